#!/usr/bin/env python3
"""Peer measurements for attnbench's transformer engine, with Hugging Face transformers.

  make-tiny DIR            write a tiny Llama-architecture checkpoint (config.json + two safetensors
                           shards + index, fp16) with the standard library only, deterministically
  compare DIR LOGITS.json...  teacher-force the engine's tokens through LlamaForCausalLM on the same
                           files (fp32 and fp16) and report max |logit difference| and top-1 agreement
  speed                    Llama-2-7B shape, random fp16 weights, batch 1: prefill time at N (sdpa and
                           eager), decode ms/token with a static cache and generate's own torch.compile

Prints one JSON object per measurement.
"""
import argparse
import json
import os
import random
import struct
import sys
import time

TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=64, vocab_size=1000, rope_theta=50000.0, rms_norm_eps=1e-5)


def write_safetensors(path, tensors):
    """tensors: list of (name, shape, list of floats); stored as F16 little-endian."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, shape, values in tensors:
        blob = struct.pack("<%de" % len(values), *values)
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def make_tiny(directory):
    rng = random.Random(2024)
    c = TINY
    h, f, d = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    hq, hkv, v = c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]

    def matrix(rows, cols, std):
        return [rng.gauss(0.0, std) for _ in range(rows * cols)]

    def norm(n):
        return [1.0 + rng.gauss(0.0, 0.1) for _ in range(n)]

    tensors = [("model.embed_tokens.weight", [v, h], matrix(v, h, 1.0))]
    for layer in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        tensors += [
            (p + "input_layernorm.weight", [h], norm(h)),
            (p + "self_attn.q_proj.weight", [hq * d, h], matrix(hq * d, h, h ** -0.5)),
            (p + "self_attn.k_proj.weight", [hkv * d, h], matrix(hkv * d, h, h ** -0.5)),
            (p + "self_attn.v_proj.weight", [hkv * d, h], matrix(hkv * d, h, h ** -0.5)),
            (p + "self_attn.o_proj.weight", [h, hq * d], matrix(h, hq * d, (hq * d) ** -0.5)),
            (p + "post_attention_layernorm.weight", [h], norm(h)),
            (p + "mlp.gate_proj.weight", [f, h], matrix(f, h, h ** -0.5)),
            (p + "mlp.up_proj.weight", [f, h], matrix(f, h, h ** -0.5)),
            (p + "mlp.down_proj.weight", [h, f], matrix(h, f, f ** -0.5)),
        ]
    tensors += [("model.norm.weight", [h], norm(h)), ("lm_head.weight", [v, h], matrix(v, h, 2 * h ** -0.5))]

    os.makedirs(directory, exist_ok=True)
    half = len(tensors) // 2
    shards = [("model-00001-of-00002.safetensors", tensors[:half]), ("model-00002-of-00002.safetensors", tensors[half:])]
    weight_map = {}
    for file_name, part in shards:
        write_safetensors(os.path.join(directory, file_name), part)
        weight_map.update({name: file_name for name, _, _ in part})
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(2 * len(t[2]) for t in tensors)}, "weight_map": weight_map}, f)
    config = dict(TINY, architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
                  max_position_embeddings=512, tie_word_embeddings=False, torch_dtype="float16",
                  attention_bias=False, mlp_bias=False)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    print(json.dumps({"tiny_checkpoint": directory, "parameters": sum(len(t[2]) for t in tensors)}))


def compare(directory, logits_files):
    import torch
    from transformers import LlamaForCausalLM

    models = {name: LlamaForCausalLM.from_pretrained(directory, dtype=dtype, attn_implementation="sdpa").cuda().eval()
              for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16))}
    for logits_json in logits_files:
        with open(logits_json) as f:
            dump = json.load(f)
        tokens = dump["prompt"] + dump["generated"]
        engine = torch.tensor(dump["logits"], dtype=torch.float64)
        engine = engine.reshape(len(dump["logits"]), -1)  # [positions, vocab]
        first = len(dump["prompt"]) - 1
        ids = torch.tensor([tokens], device="cuda")
        hf = {}
        with torch.inference_mode():
            for name, model in models.items():
                hf[name] = model(ids).logits[0, first:first + engine.shape[0]].double().cpu()
        ref, hf16 = hf["fp32"], hf["fp16"]
        report = {
            "file": os.path.basename(logits_json),
            "positions": engine.shape[0],
            "max_abs_logit": ref.abs().max().item(),
            "engine_vs_transformers_fp32_max_abs_diff": (engine - ref).abs().max().item(),
            "engine_vs_transformers_fp16_max_abs_diff": (engine - hf16).abs().max().item(),
            "transformers_fp16_vs_fp32_max_abs_diff": (hf16 - ref).abs().max().item(),
            "top1_agreement_engine_vs_fp32": (engine.argmax(-1) == ref.argmax(-1)).double().mean().item(),
            "top1_agreement_transformers_fp16_vs_fp32": (hf16.argmax(-1) == ref.argmax(-1)).double().mean().item(),
        }
        print(json.dumps({"compare": report}), flush=True)


def speed(args):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from torch_timing import event_samples_ms

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32000, max_position_embeddings=max(4096, args.prefill_n + 8),
                      rope_theta=10000.0, rms_norm_eps=1e-5)

    def timed(fn, reps):
        times = event_samples_ms(fn, 1, reps)
        return sorted(times)[len(times) // 2], times

    torch.manual_seed(0)
    for impl in args.attn:
        with torch.device("cuda"):
            try:
                model = LlamaForCausalLM._from_config(cfg, dtype=torch.float16, attn_implementation=impl).eval()
            except TypeError:  # transformers before the torch_dtype -> dtype rename
                model = LlamaForCausalLM._from_config(cfg, torch_dtype=torch.float16, attn_implementation=impl).eval()
        ids = torch.randint(0, cfg.vocab_size, (1, args.prefill_n), device="cuda")
        with torch.inference_mode():
            ms, all_ms = timed(lambda: model(ids, use_cache=False, logits_to_keep=1), args.reps)
        print(json.dumps({"prefill": {"attn_implementation": impl, "n": args.prefill_n, "ms": ms, "all_ms": all_ms}}), flush=True)
        if impl == "sdpa" and args.decode_context > 0:
            prompt = torch.randint(0, cfg.vocab_size, (1, args.decode_context), device="cuda")

            def generate(k):
                return model.generate(prompt, max_new_tokens=k, min_new_tokens=k, do_sample=False,
                                      cache_implementation="static", pad_token_id=0)

            t0 = time.time()
            with torch.inference_mode():
                generate(args.new_tokens + 1)  # compiles
                compile_s = time.time() - t0
                one, _ = timed(lambda: generate(1), args.reps)
                many, _ = timed(lambda: generate(args.new_tokens + 1), args.reps)
            print(json.dumps({"decode_static_compile": {"context": args.decode_context, "new_tokens": args.new_tokens,
                                                        "ms_per_token": (many - one) / args.new_tokens,
                                                        "first_call_s": compile_s}}), flush=True)
        del model
        torch.cuda.empty_cache()
    import transformers
    print(json.dumps({"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                   "device": torch.cuda.get_device_name()}}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-tiny")
    p.add_argument("dir")
    p = sub.add_parser("compare")
    p.add_argument("dir")
    p.add_argument("logits_json", nargs="+")
    p = sub.add_parser("speed")
    p.add_argument("--prefill_n", type=int, default=2048)
    p.add_argument("--decode_context", type=int, default=512)
    p.add_argument("--new_tokens", type=int, default=64)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--attn", nargs="+", default=["sdpa", "eager"])
    args = parser.parse_args()
    if args.cmd == "make-tiny":
        make_tiny(args.dir)
    elif args.cmd == "compare":
        compare(args.dir, args.logits_json)
    else:
        speed(args)


if __name__ == "__main__":
    sys.exit(main())
