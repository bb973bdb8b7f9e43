"""Checks that the pure-Python tokeniser of static_model.py (the spec the Rust port follows) gives the
same ids as the model's own tokenizer.json (HF `tokenizers`) on the corpus, the topics and tricky strings."""
import sys; sys.path.insert(0,'/work/scratch/classify')
from static_model import Table
from bert_np import load_tokenizer
from eval import load_corpus
t = Table('/work/scratch/classify/model/static-128.bin'); tok = load_tokenizer()
topics, docs = load_corpus()
texts = [d['text'] for d in docs] + [x['name']+' '+x['description'] for x in topics] + [
 "Crème brûlée naïve café £5.00 €1,217.18 ½ ° © ™ 😂 日本語テキスト ｆｕｌｌｗｉｄｔｈ ﬁnance Ǆ İstanbul ß straße",
 "a"*150 + " ok", "x\u200by zero\u00a0width\ttab\x00nul \ufffd", "co-operative don't e-mail U.S.A. (test) [unused3] ##ing",
 "ΑΘΗΝΑ Ελληνικά Русский текст עברית العربية हिन्दी ไทย"]
bad = 0
for s in texts:
    a = t.tokenize(s); b = tok.encode(s, add_special_tokens=False).ids
    if a != b:
        bad += 1; print("MISMATCH", repr(s[:80])); print(a[:40]); print(b[:40])
print("checked", len(texts), "texts, mismatches", bad)
# Known, deliberate difference: HF `tokenizers` matches the literal special-token strings "[UNK]", "[CLS]",
# "[SEP]", "[PAD]", "[MASK]" in the input as special tokens; the spec does not (it tokenises "[UNK]" as
# "[", "un", "##k", "]"). Irrelevant for scoring; shown here for the record.
s = "literal [UNK] here"
print("literal special token:", t.tokenize(s), "vs tokenizers", tok.encode(s, add_special_tokens=False).ids)
sys.exit(1 if bad else 0)
