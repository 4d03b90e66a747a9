#!/usr/bin/python3
"""Writes the fixture of PeftReferenceAdapterTest: a PEFT LoRA folder for stories260K written by the PyTorch
reference's own writer (../shared/reference/torch_llama_lora.py --mode train --out-adapter), and what the reference
computes with it (--mode eval --adapter: the validation loss; in-process: logits of one block), so that the Java
reader can be checked against a folder it did not write and against numbers it did not compute.

Run from the repository root (PyTorch and SentencePiece for /usr/bin/python3; see the reference's docstring):
    /usr/bin/python3 dynalora-core/src/test/resources/dev/dynalora/formats/peft/make_reference_adapter.py [--shared ../shared]

Writes, beside this script: reference-adapter/adapter_config.json and adapter_model.safetensors (LoRA r 4, alpha 6 on
q_proj, v_proj and down_proj of every layer, trained for one epoch on the short stories below at lr 1e-2, so that B
is far from zero), and reference-adapter.json: the validation blocks' token ids (BOS at each story start, packed
into --seq + 1 token windows as the reference packs them), the reference's valid_loss for base + adapter and for the
base alone, and the logits of the first block at three positions."""
import argparse, importlib.util, json, os, subprocess, sys, tempfile
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SEQ, BATCH, RANK, ALPHA, TARGETS = 32, 4, 4, 6, "q_proj,v_proj,down_proj"

TRAIN = [
    "Once upon a time, there was a little cat named Tom. Tom liked to play with a red ball in the garden. "
    "One day, the ball rolled under a big tree. Tom looked and looked, and then he found it. He was very happy.",
    "Lily had a small blue bird. Every morning the bird sang a song. Lily gave it seeds and water. "
    "One day the bird flew out of the window, but it came back in the evening and sang again.",
    "Ben and Sue went to the park. They saw a big dog and a little dog. The big dog was kind and the little dog "
    "was shy. Ben gave them a stick, and they played together until the sun went down.",
    "Mom made a cake for Sam. It was a big chocolate cake with a red cherry on top. Sam said thank you and "
    "shared the cake with his friends. Everyone smiled and said it was the best cake ever.",
    "There was a tall tree near the river. A family of birds lived in the tree. When the rain came, the birds "
    "stayed in their nest, warm and dry. When the sun came out, they flew over the water.",
    "Tim wanted to build a tower with his blocks. He put one block on top of another. The tower grew and grew. "
    "Then it fell down with a loud crash, and Tim laughed and started again.",
    "Anna found a shiny stone on the beach. She showed it to her dad. Her dad said it was a special stone. "
    "Anna kept it in a little box next to her bed and looked at it every night.",
    "The little fox was hungry. He walked into the forest to find food. He met a rabbit who gave him some "
    "berries. The fox said thank you, and from that day they were good friends.",
]
VALID = [
    "Once upon a time, a girl named Mia had a yellow kite. She ran in the park and the kite flew high in the sky. "
    "A bird flew next to the kite, and Mia laughed and waved at the bird.",
    "Max the dog liked to dig in the garden. One day he found an old toy under the ground. He brought it to his "
    "friend Lucy, and they played with it all afternoon.",
]

def reference(shared):
    path = os.path.join(shared, "reference", "torch_llama_lora.py")
    spec = importlib.util.spec_from_file_location("torch_llama_lora", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod, path

def run(script, args):
    out = subprocess.run([sys.executable, script] + args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])

def r(x): return float("%.8g" % x)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--shared", default="../shared"); a = ap.parse_args()
    ref, script = reference(a.shared); model_dir = os.path.join(a.shared, "models", "stories260K")
    out_dir = os.path.join(HERE, "reference-adapter")
    with tempfile.TemporaryDirectory() as tmp:
        train, valid = os.path.join(tmp, "train.txt"), os.path.join(tmp, "valid.txt")
        open(train, "w").write("\n\n".join(TRAIN) + "\n"); open(valid, "w").write("\n\n".join(VALID) + "\n")
        common = ["--model", model_dir, "--seq", str(SEQ), "--batch", str(BATCH), "--threads", "1"]
        trained = run(script, common + ["--mode", "train", "--train", train, "--valid", valid, "--epochs", "1",
                                        "--lr", "1e-2", "--targets", TARGETS, "--rank", str(RANK), "--alpha", str(ALPHA),
                                        "--out-adapter", out_dir])
        evaluated = run(script, common + ["--mode", "eval", "--valid", valid, "--adapter", out_dir])
        # The same blocks and the logits of the first, in process with the reference's own code.
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
        blocks = [ids for ids, _ in ref.text_blocks(sp, valid, SEQ)]
        torch.set_num_threads(1)
        c = json.load(open(os.path.join(model_dir, "config.json")))
        W = ref.load_safetensors(os.path.join(model_dir, "model.safetensors"))
        model = ref.Llama(W, c, set(), 0, 0.0).eval(); ref.load_peft_adapter(model, out_dir)
        with torch.no_grad(): lg = model(torch.tensor([blocks[0][:-1]]))[0]
    positions = [0, SEQ // 2, SEQ - 1]
    fixture = {"generator": "make_reference_adapter.py (torch_llama_lora.py --mode train --out-adapter, --mode eval --adapter)",
               "torch": torch.__version__, "seq": SEQ, "blocks": blocks,
               "valid_loss": evaluated["valid_loss"], "valid_loss_base": trained["valid_loss_before"],
               "valid_loss_after_training": trained["valid_loss"], "adapter_modules": evaluated["adapter_modules"],
               "logits": [{"position": p, "logits": [r(v) for v in lg[p].tolist()]} for p in positions]}
    with open(os.path.join(HERE, "reference-adapter.json"), "w") as f: json.dump(fixture, f, separators=(",", ":")); f.write("\n")
    print("wrote", out_dir, "and reference-adapter.json: valid_loss %.6f (base %.6f), %d blocks, %d modules"
          % (fixture["valid_loss"], fixture["valid_loss_base"], len(blocks), fixture["adapter_modules"]))

if __name__ == "__main__":
    main()
