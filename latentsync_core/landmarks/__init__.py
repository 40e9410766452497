"""Landmark backends behind one interface (see :mod:`.base`)."""
from .base import FaceLandmarks, LandmarkBackend

__all__ = ["FaceLandmarks", "LandmarkBackend"]
