// Tokenizes strings and runs a model folder with transformers.js, offline,
// for comparison with the Go inference package.
// Usage: node parity.mjs MODEL_DIR STRINGS_JSON MAX_LEN > out.json
// Prints {"ids": [[...], ...], "logits": [[...], ...]}: ids untruncated; logits
// for the ids truncated as Hugging Face's Python tokenizer does (the text is cut,
// the closing special token kept) — transformers.js's own truncation drops it.
import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { env, AutoTokenizer, AutoModelForSequenceClassification, Tensor } from "@huggingface/transformers";

const [modelDir, stringsFile, maxLenArg] = process.argv.slice(2);
if (!modelDir || !stringsFile || !maxLenArg) {
  console.error("usage: node parity.mjs MODEL_DIR STRINGS_JSON MAX_LEN");
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = dirname(resolve(modelDir)) + "/";
const name = basename(resolve(modelDir));
const maxLen = Number(maxLenArg);

const tokenizer = await AutoTokenizer.from_pretrained(name);
const model = await AutoModelForSequenceClassification.from_pretrained(name, { dtype: "fp32" });
const inputNames = model.sessions.model.inputNames;
const texts = JSON.parse(readFileSync(stringsFile, "utf8"));
const out = { ids: [], logits: [] };
for (const text of texts) {
  const ids = tokenizer.encode(text);
  out.ids.push(ids);
  const cut = ids.length > maxLen ? ids.slice(0, maxLen - 1).concat([ids[ids.length - 1]]) : ids;
  const shape = [1, cut.length];
  const feeds = {
    input_ids: new Tensor("int64", BigInt64Array.from(cut.map(BigInt)), shape),
    attention_mask: new Tensor("int64", BigInt64Array.from(cut.map(() => 1n)), shape),
  };
  if (inputNames.includes("token_type_ids")) {
    feeds.token_type_ids = new Tensor("int64", new BigInt64Array(cut.length), shape);
  }
  const { logits } = await model(feeds);
  out.logits.push(Array.from(logits.data));
}
console.log(JSON.stringify(out));
