// Shows the report table of LatentSync_LipSyncQuality on the node after it runs
// (the node sends it as its "text" UI output). The box is display-only: it is not
// saved in the workflow and not sent with the prompt.
import { app } from "../../scripts/app.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const NODE = "LatentSync_LipSyncQuality";
const WIDGET = "report";

app.registerExtension({
  name: "LatentSync.QualityTable",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== NODE) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      let widget = this.widgets?.find((w) => w.name === WIDGET);
      if (!widget) {
        widget = ComfyWidgets.STRING(this, WIDGET, ["STRING", { multiline: true }], app).widget;
        widget.serialize = false;
        widget.options = { ...(widget.options ?? {}), serialize: false };
        if (widget.inputEl) {
          widget.inputEl.readOnly = true;
          widget.inputEl.style.fontFamily = "monospace";
          widget.inputEl.style.whiteSpace = "pre";
        }
      }
      widget.value = (message?.text ?? []).join("\n");
      this.setDirtyCanvas?.(true, true);
    };
  },
});
