#!/usr/bin/python3
"""Writes llama_logits.json, the forward-parity fixture of LlamaParityTest: logits of the shared stories260K and
stories15M checkpoints computed by the PyTorch reference (../shared/reference/torch_llama_lora.py, its Llama class
without LoRA, float32, eager mode) for a few fixed token sequences.

Run from the repository root after apt-get install -y --no-install-recommends python3-torch libopenblas0-pthread \
python3-numpy python3-sentencepiece:
    /usr/bin/python3 dynalora-core/src/test/resources/dev/dynalora/models/llama/make_llama_logits.py [--shared ../shared]

Kept small: stories260K (vocabulary 512) stores every logit at every position of two short sequences and the last
position of a longer one; stories15M (vocabulary 32,000) stores, at the last two positions of each sequence, the
logits of every 250th id, of the 10 highest-scoring ids, and the log-sum-exp over the whole vocabulary (which moves
if any logit is off)."""
import argparse, importlib.util, json, os, sys
import torch
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))

def reference(shared):
    path = os.path.join(shared, "reference", "torch_llama_lora.py")
    spec = importlib.util.spec_from_file_location("torch_llama_lora", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def load(ref, folder):
    c = json.load(open(os.path.join(folder, "config.json")))
    W = ref.load_safetensors(os.path.join(folder, "model.safetensors"))
    return ref.Llama(W, c, set(), 0, 0.0).eval(), spm.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))

def r(x): return float("%.7g" % x)

def logits_of(model, ids):
    with torch.no_grad(): return model(torch.tensor([ids]))[0]

def stories260k(ref, shared):
    model, sp = load(ref, os.path.join(shared, "models", "stories260K"))
    seqs = []
    for text, full in [("Once upon a", True), ("Lily was", True), ("The little dog ran to the park and saw a big red ball.", False)]:
        ids = [1] + sp.encode(text); lg = logits_of(model, ids)
        positions = list(range(len(ids))) if full else [len(ids) - 1]
        seqs.append({"text": text, "ids": ids, "positions": [{"position": p, "logits": [r(v) for v in lg[p].tolist()]} for p in positions]})
    return {"model": "stories260K", "sequences": seqs}

def stories15m(ref, shared):
    model, sp = load(ref, os.path.join(shared, "models", "stories15M"))
    sample = list(range(0, 32000, 250)); seqs = []
    for text in ["Once upon a time", "Tom and Lily went to the beach. They", "One day, a little bird"]:
        ids = [1] + sp.encode(text); lg = logits_of(model, ids); pos = []
        for p in (len(ids) - 2, len(ids) - 1):
            top = torch.topk(lg[p], 10).indices.tolist(); chosen = sorted(set(sample + top))
            pos.append({"position": p, "ids": chosen, "logits": [r(lg[p][i].item()) for i in chosen],
                        "argmax": int(lg[p].argmax()), "logsumexp": r(torch.logsumexp(lg[p].double(), 0).item())})
        seqs.append({"text": text, "ids": ids, "positions": pos})
    return {"model": "stories15M", "sequences": seqs}

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--shared", default="../shared")
    ap.add_argument("--out", default=os.path.join(HERE, "llama_logits.json")); a = ap.parse_args()
    torch.set_num_threads(1); ref = reference(a.shared)
    out = {"generator": "make_llama_logits.py (torch_llama_lora.Llama, float32)", "torch": torch.__version__,
           "models": [stories260k(ref, a.shared), stories15m(ref, a.shared)]}
    with open(a.out, "w") as f: json.dump(out, f, separators=(",", ":")); f.write("\n")
    print("wrote", a.out, os.path.getsize(a.out), "bytes")

if __name__ == "__main__":
    main()
