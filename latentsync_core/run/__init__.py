"""The run package: composes face/, lipsync/, media/, files/ and restorers/ into the jobs both front-ends run."""
