#!/usr/bin/env python3
"""Converts all-MiniLM-L6-v2 (a BERT encoder as safetensors, with its WordPiece vocab.txt) into
a GGUF that both the embedded engine and llama.cpp's loader read: architecture `bert`, F32
tensors under llama.cpp's names, the vocabulary as tokenizer model `bert`, mean pooling.

    embed_model.py MODEL_DIR OUT.gguf

Deterministic: the same inputs give the same bytes (no dates, keys and tensors in a fixed
order), which scripts/embed_model.sh checks by size and sha256.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf

# The encoder's tensors by the names of the Hugging Face checkpoint, and the names llama.cpp's
# `bert` loader looks for. Layer tensors are listed per layer below.
EMBEDDING_NAMES = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
}
LAYER_NAMES = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
# Special tokens of the BERT vocabulary: control tokens in the GGUF.
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The F32 tensors of a safetensors file: an 8-byte header size, a JSON header, the data."""
    raw = path.read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_size])
    base = 8 + header_size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        begin, end = info["data_offsets"]
        data = np.frombuffer(raw, dtype="<f4", count=(end - begin) // 4, offset=base + begin)
        tensors[name] = data.reshape(info["shape"]).copy()
    return tensors


def gguf_name(hf_name: str) -> str | None:
    name = hf_name.removeprefix("bert.")
    if name in EMBEDDING_NAMES:
        return EMBEDDING_NAMES[name]
    if name.startswith("encoder.layer."):
        layer, rest = name.removeprefix("encoder.layer.").split(".", 1)
        module, kind = rest.rsplit(".", 1)
        if module in LAYER_NAMES and kind in ("weight", "bias"):
            return f"blk.{int(layer)}.{LAYER_NAMES[module]}.{kind}"
    if name.startswith("pooler."):
        return None  # sentence embeddings pool the hidden states; the pooler is not used
    sys.exit(f"embed_model: unexpected tensor '{hf_name}'")


def vocab_tokens(vocab_txt: Path) -> list[str]:
    """WordPiece pieces as llama.cpp stores them: a word-initial piece gets the phantom space
    U+2581, a continuation piece loses its '##', special tokens stay as they are."""
    pieces = vocab_txt.read_text(encoding="utf-8").split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    out = []
    for piece in pieces:
        if piece.startswith("[") and piece.endswith("]"):
            out.append(piece)
        elif piece.startswith("##"):
            out.append(piece[2:])
        else:
            out.append("\u2581" + piece)
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: embed_model.py MODEL_DIR OUT.gguf")
    model_dir, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((model_dir / "config.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        sys.exit("embed_model: expected a BERT model with GELU activations")
    if not pooling.get("pooling_mode_mean_tokens"):
        sys.exit("embed_model: expected a model pooled by the mean of its tokens")
    tokens = vocab_tokens(model_dir / "vocab.txt")
    if len(tokens) != config["vocab_size"]:
        sys.exit(f"embed_model: vocab.txt has {len(tokens)} pieces, config.json says {config['vocab_size']}")
    tensors = read_safetensors(model_dir / "model.safetensors")

    arch = "bert"
    w = gguf.GGUFWriter(str(out_path), arch)
    w.add_name("all-MiniLM-L6-v2")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_head_count(config["num_attention_heads"])
    w.add_layer_norm_eps(config["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)

    w.add_tokenizer_model("bert")
    w.add_token_list(tokens)
    w.add_token_types(
        [gguf.TokenType.CONTROL if t in SPECIALS else gguf.TokenType.NORMAL for t in tokens]
    )
    w.add_token_type_count(config["type_vocab_size"])
    w.add_bos_token_id(tokens.index("[CLS]"))
    w.add_sep_token_id(tokens.index("[SEP]"))
    w.add_unk_token_id(tokens.index("[UNK]"))
    w.add_pad_token_id(tokens.index("[PAD]"))
    w.add_mask_token_id(tokens.index("[MASK]"))
    # Older readers (and the engine) also look for the classifier token under its own key.
    w.add_uint32("tokenizer.ggml.cls_token_id", tokens.index("[CLS]"))

    named = {}
    for hf_name, data in tensors.items():
        name = gguf_name(hf_name)
        if name is not None:
            named[name] = data
    expected = len(EMBEDDING_NAMES) + 2 * len(LAYER_NAMES) * config["num_hidden_layers"]
    if len(named) != expected:
        sys.exit(f"embed_model: found {len(named)} encoder tensors, expected {expected}")
    # Embeddings first, then the layers in order, each layer's tensors by name.
    def order(name: str):
        if not name.startswith("blk."):
            return (-1, list(EMBEDDING_NAMES.values()).index(name), name)
        return (int(name.split(".")[1]), 0, name)

    for name in sorted(named, key=order):
        w.add_tensor(name, named[name], raw_dtype=gguf.GGMLQuantizationType.F32)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
