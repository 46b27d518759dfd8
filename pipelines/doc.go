// Package pipelines is the tweet sentiment medallion pipeline on Apache
// Beam, as a package other Go programs can import: raw tweet JSON files →
// bronze → silver → gold (a transformer's prediction per row) → application
// (per-mention counts), as Delta tables.
//
// Config says where the input, the lake and the model are; Build adds one
// batch to a Beam scope; Run plans and runs batches until the input is
// ingested, RunBatch runs one, and Stream watches the input and commits a
// batch per trigger. Each takes a Runner, so the caller chooses where the
// pipeline runs (prism in process, a job server, Flink, Spark). The command
// pipelines/medallion is flags over this package.
package pipelines
