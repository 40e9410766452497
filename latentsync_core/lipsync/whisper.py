"""Whisper audio encoder used by LatentSync, hosted on transformers' ``WhisperEncoder``.

LatentSync conditions its UNet on the OpenAI Whisper *tiny* encoder
(``whisper/tiny.pt`` of the LatentSync 1.5/1.6 releases). It uses five hidden
states per encoder step: the input embedding (convolutions + positional
embedding) and the output of each of the four blocks, all taken BEFORE the
encoder's final LayerNorm (``ln_post``).

The checkpoint is read in the OpenAI layout (a dict with ``dims`` and
``model_state_dict``), its encoder keys are renamed to the transformers
layout and loaded strictly; the text decoder weights in the file are unused.
"""
from __future__ import annotations

import os
import re

import torch
from torch import nn

from ..errors import BadInputError
from ..files.weights import load_weights

# Encoder steps per second of audio (mel hop 10 ms, then a stride-2 convolution).
FEATURE_RATE = 50

_BLOCK_KEYS = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}
_ENCODER_KEYS = {
    "conv1": "conv1",
    "conv2": "conv2",
    "ln_post": "layer_norm",
}
_BLOCK_PATTERN = re.compile(r"^blocks\.(\d+)\.(.+)\.(weight|bias)$")
_TOP_PATTERN = re.compile(r"^(conv1|conv2|ln_post)\.(weight|bias)$")
_DIM_KEYS = ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer")


def openai_to_transformers_key(key: str) -> str:
    """Rename one OpenAI encoder key (without the ``encoder.`` prefix) to transformers' ``WhisperEncoder`` name.

    Raises KeyError for a key that has no counterpart.
    """
    if key == "positional_embedding":
        return "embed_positions.weight"
    match = _TOP_PATTERN.match(key)
    if match:
        return f"{_ENCODER_KEYS[match.group(1)]}.{match.group(2)}"
    match = _BLOCK_PATTERN.match(key)
    if match and match.group(2) in _BLOCK_KEYS:
        return f"layers.{match.group(1)}.{_BLOCK_KEYS[match.group(2)]}.{match.group(3)}"
    raise KeyError(key)


def read_openai_checkpoint(path: str) -> tuple[dict[str, int], dict[str, torch.Tensor]]:
    """Read an OpenAI-format Whisper checkpoint.

    Returns ``(dims, encoder_state)``: the model dimensions and the encoder
    tensors keyed in the transformers layout. Raises BadInputError for any
    other file layout.
    """
    name = os.path.basename(path)
    checkpoint = load_weights(path, "Whisper checkpoint", "Use the OpenAI-format whisper/tiny.pt from the LatentSync release.")
    if not isinstance(checkpoint, dict) or not {"dims", "model_state_dict"} <= set(checkpoint):
        found = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise BadInputError(
            f"'{name}' is not an OpenAI-format Whisper checkpoint (expected a dict with 'dims' and "
            f"'model_state_dict', found {found}). Use whisper/tiny.pt from "
            "https://huggingface.co/ByteDance/LatentSync-1.6 (transformers/safetensors Whisper files are not supported)."
        )
    dims = checkpoint["dims"]
    missing = [k for k in _DIM_KEYS if k not in dims]
    if missing:
        raise BadInputError(f"'{name}' has incomplete Whisper dims (missing {missing}). Use the original whisper/tiny.pt.")
    encoder_state = {}
    for key, tensor in checkpoint["model_state_dict"].items():
        if not key.startswith("encoder."):
            continue
        try:
            encoder_state[openai_to_transformers_key(key[len("encoder."):])] = tensor
        except KeyError:
            raise BadInputError(
                f"'{name}' has an unexpected encoder tensor '{key}'. Use the original whisper/tiny.pt."
            ) from None
    return {k: int(v) for k, v in dims.items()}, encoder_state


class WhisperAudioEncoder(nn.Module):
    """Whisper encoder returning LatentSync's stack of pre-LayerNorm hidden states."""

    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        config = WhisperConfig(
            num_mel_bins=dims["n_mels"],
            max_source_positions=dims["n_audio_ctx"],
            d_model=dims["n_audio_state"],
            encoder_attention_heads=dims["n_audio_head"],
            encoder_layers=dims["n_audio_layer"],
            encoder_ffn_dim=4 * dims["n_audio_state"],
            decoder_layers=1,
            dropout=0.0,
            attention_dropout=0.0,
            activation_dropout=0.0,
            activation_function="gelu",
        )
        self.dims = dict(dims)
        self.encoder = WhisperEncoder(config).eval()

    @property
    def n_layers_out(self) -> int:
        """Hidden states per step: the input embedding and one per block."""
        return self.dims["n_audio_layer"] + 1

    @property
    def width(self) -> int:
        return self.dims["n_audio_state"]

    @property
    def window_steps(self) -> int:
        """Encoder steps per window (1500 for 30 s); a window takes twice as many mel frames."""
        return self.dims["n_audio_ctx"]

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode log-mel windows.

        mel: [B, n_mels, 2 * n_audio_ctx] (3000 frames = 30 s), values as made
        by ``audio.log_mel`` (about -1.5..2), on the encoder's device.
        Returns [B, n_audio_layer + 1, n_audio_ctx, n_audio_state] in the
        encoder's dtype: input embedding then each block's output, all before
        the final LayerNorm.
        """
        states: list[torch.Tensor] = []

        def keep_input(_module, args):
            states.append(args[0])

        def keep_output(_module, _args, output):
            states.append(output[0] if isinstance(output, tuple) else output)

        layers = self.encoder.layers
        hooks = [layers[0].register_forward_pre_hook(keep_input)]
        hooks += [layer.register_forward_hook(keep_output) for layer in layers]
        try:
            self.encoder(mel.to(self.encoder.conv1.weight.dtype))
        finally:
            for hook in hooks:
                hook.remove()
        return torch.stack(states, dim=1)

    @torch.inference_mode()
    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        """Encode one window: mel [n_mels, 3000] -> [layers=5, 1500, 384] (pre-LayerNorm stack)."""
        return self.forward(mel.unsqueeze(0))[0]


def load_whisper(path: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> WhisperAudioEncoder:
    """Load an OpenAI-format Whisper checkpoint (e.g. LatentSync's ``whisper/tiny.pt``) as a WhisperAudioEncoder.

    Only the encoder is built; all of its tensors must be present (strict load).
    """
    dims, state = read_openai_checkpoint(path)
    model = WhisperAudioEncoder(dims)
    try:
        model.encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BadInputError(
            f"'{os.path.basename(path)}' does not match its own Whisper dims ({exc}). Use the original whisper/tiny.pt."
        ) from exc
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)
