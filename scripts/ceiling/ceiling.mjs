// The inference ceiling on the ONNX Runtime build the pipeline loads: npm's
// onnxruntime-node ships libonnxruntime.so.1, the file scripts/setup.sh
// copies out of the same package version for the Go pipeline. Driven from
// Node rather than from our Go code, on ids that scripts/bench_ceiling.py
// --write-ids tokenized with Hugging Face's tokenizers and sorted by length.
//
// Usage: node ceiling.mjs MODEL_DIR IDS_JSON [--batch 16] [--threads 0] [--sessions 1] [--quantized]
//
// Each session lives in a worker thread of its own; padded batches are built
// before the clock starts, every session runs a warm-up pass over every
// fourth batch, then the clock runs from the first run to the last one's end,
// the sessions taking batches from one shared counter. Prints one JSON line,
// as bench_ceiling.py does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

function batches(ids, size) {
  const out = [];
  for (let i = 0; i < ids.rows.length; i += size) {
    const rows = ids.rows.slice(i, i + size);
    const width = Math.max(...rows.map((r) => r.length));
    const inp = new BigInt64Array(rows.length * width).fill(BigInt(ids.pad));
    const mask = new BigInt64Array(rows.length * width);
    rows.forEach((r, k) => r.forEach((t, j) => { inp[k * width + j] = BigInt(t); mask[k * width + j] = 1n; }));
    out.push({ inp, mask, dims: [rows.length, width] });
  }
  return out;
}

async function worker() {
  const { model, idsFile, batch, threads, quantized, counter } = workerData;
  const ids = JSON.parse(readFileSync(idsFile, 'utf8'));
  const sess = await ort.InferenceSession.create(join(model, 'onnx', quantized ? 'model_quantized.onnx' : 'model.onnx'), {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionProviders: ['cpu'],
  });
  const feeds = batches(ids, batch).map(({ inp, mask, dims }) => {
    const f = { input_ids: new ort.Tensor('int64', inp, dims), attention_mask: new ort.Tensor('int64', mask, dims) };
    if (sess.inputNames.includes('token_type_ids')) f.token_type_ids = new ort.Tensor('int64', new BigInt64Array(inp.length), dims);
    return f;
  });
  for (let k = 0; k < feeds.length; k += 4) await sess.run(feeds[k]);
  const next = new Int32Array(counter);
  parentPort.postMessage('ready');
  await new Promise((resolve) => parentPort.once('message', resolve));
  for (let k = Atomics.add(next, 0, 1); k < feeds.length; k = Atomics.add(next, 0, 1)) await sess.run(feeds[k]);
  parentPort.postMessage('done');
}

async function main() {
  const [model, idsFile, ...rest] = process.argv.slice(2);
  const opt = { batch: 16, threads: 0, sessions: 1, quantized: false };
  for (let i = 0; i < rest.length; i++) {
    const name = rest[i].replace(/^--/, '');
    if (name === 'quantized') opt.quantized = true;
    else if (name in opt) opt[name] = Number(rest[++i]);
    else throw new Error(`unknown option ${rest[i]}`);
  }
  const ids = JSON.parse(readFileSync(idsFile, 'utf8'));
  const counter = new SharedArrayBuffer(4);
  const workers = Array.from({ length: opt.sessions }, () => new Worker(new URL(import.meta.url), {
    workerData: { model, idsFile, batch: opt.batch, threads: opt.threads, quantized: opt.quantized, counter },
  }));
  const until = (what) => Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('message', (m) => (m === what ? resolve() : reject(new Error(`worker said ${m}`))));
  })));
  await until('ready');
  const t0 = process.hrtime.bigint();
  const done = until('done');
  workers.forEach((w) => w.postMessage('go'));
  await done;
  const spent = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(workers.map((w) => w.terminate()));
  const padded = batches(ids, opt.batch).reduce((s, b) => s + b.inp.length, 0);
  console.log(JSON.stringify({
    harness: 'node', onnxruntime: ort.env.versions.common, threads: opt.threads, sessions: opt.sessions, batch: opt.batch,
    texts: ids.rows.length, tokens: ids.rows.reduce((s, r) => s + r.length, 0), padded_tokens: padded,
    run_s: spent, texts_per_s: ids.rows.length / spent,
  }));
}

if (isMainThread) await main(); else await worker();
