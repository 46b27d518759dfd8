// Command register adds a model folder to the MLflow-format model registry
// as a new version, and sets its stage and alias; or promotes a version:
//
//	go run ./scripts/register --name NAME --model-dir DIR [--stage Production] [--alias A] [--registry mlruns]
//	go run ./scripts/register --name NAME --promote VERSION --stage Production [--archive-existing]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tweetsentiment/medallion/tracking"
)

func main() {
	reg := flag.String("registry", "mlruns", "MLflow file store (mlruns folder)")
	name := flag.String("name", "tweet-sentiment", "registered model name")
	dir := flag.String("model-dir", "", "model folder: config.json, tokenizer.json, onnx/model.onnx (required)")
	stage := flag.String("stage", "None", "stage to set: None, Staging, Production or Archived")
	alias := flag.String("alias", "", "alias to point at the new version (models:/NAME@ALIAS)")
	promote := flag.Int("promote", 0, "move this existing version to --stage instead of registering a new one")
	archive := flag.Bool("archive-existing", false, "with --promote to Staging or Production: move the versions in that stage to Archived, as MLflow's archive_existing_versions does")
	flag.Parse()
	if *promote > 0 {
		changed, err := tracking.Registry{Root: *reg}.Transition(*name, *promote, *stage, *archive)
		if err != nil {
			fmt.Fprintf(os.Stderr, "register: %v\n", err)
			os.Exit(1)
		}
		for _, mv := range changed {
			fmt.Printf("%s version %d: %s\n", mv.Name, mv.Version, mv.CurrentStage)
		}
		return
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "register: --model-dir is required")
		flag.Usage()
		os.Exit(2)
	}
	mv, err := tracking.Registry{Root: *reg}.Register(*name, *dir, *stage, *alias)
	if err != nil {
		fmt.Fprintf(os.Stderr, "register: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("registered %s version %d (stage %s", mv.Name, mv.Version, mv.CurrentStage)
	if *alias != "" {
		fmt.Printf(", alias %s", *alias)
	}
	fmt.Printf(") in %s: use --model models:/%s/%d\n", *reg, mv.Name, mv.Version)
}
