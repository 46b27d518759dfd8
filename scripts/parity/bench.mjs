// Peer benchmark: transformers.js on a model folder and texts, offline.
//   documented: pipeline("text-classification") over batches in arrival order
//   tuned:      texts sorted by token length, tokenizer + model per padded batch
// Usage: node bench.mjs MODEL_DIR TEXTS_JSON BATCH  → one JSON line of seq/s
import { readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { env, pipeline, AutoTokenizer, AutoModelForSequenceClassification } from "@huggingface/transformers";

const [modelDir, textsFile, batchArg] = process.argv.slice(2);
env.allowRemoteModels = false;
env.localModelPath = dirname(resolve(modelDir)) + "/";
const name = basename(resolve(modelDir));
const batch = Number(batchArg || 32);
const texts = JSON.parse(readFileSync(textsFile, "utf8"));

const classifier = await pipeline("text-classification", name, { dtype: "fp32" });
await classifier(texts.slice(0, batch)); // warm up
let t0 = performance.now();
for (let i = 0; i < texts.length; i += batch) await classifier(texts.slice(i, i + batch));
const documented = texts.length / ((performance.now() - t0) / 1000);

const tokenizer = await AutoTokenizer.from_pretrained(name);
const model = await AutoModelForSequenceClassification.from_pretrained(name, { dtype: "fp32" });
const order = texts.map((t, i) => [tokenizer.encode(t).length, i]).sort((a, b) => a[0] - b[0]).map((x) => x[1]);
t0 = performance.now();
for (let i = 0; i < order.length; i += batch) {
  const chunk = order.slice(i, i + batch).map((j) => texts[j]);
  const inputs = tokenizer(chunk, { padding: true, truncation: true });
  await model(inputs);
}
const tuned = texts.length / ((performance.now() - t0) / 1000);
console.log(JSON.stringify({ model: name, texts: texts.length, batch, documented_seq_per_s: documented, tuned_seq_per_s: tuned }));
