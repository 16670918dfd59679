package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pruefplatz",
		Short: "Prüfplatz: a visual quality-inspection station",
		Long: `Prüfplatz classifies every part a camera sees on the inspection table,
stores each verdict with the model and data behind it, and lets people confirm
or correct it. Run "pruefplatz serve" for the station; the other commands are
the engineers' tools around it.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("ort-lib", "", "path to libonnxruntime.so.1 (default: $PRUEFPLATZ_ORT_LIB, then beside the binary, then .deps/onnxruntime/)")
	root.AddCommand(subcommands()...)
	return root
}

// subcommands lists every subcommand; each lives in its own file.
func subcommands() []*cobra.Command {
	return []*cobra.Command{
		newDatasetCmd(),
		newDemoDataCmd(),
		newTrainCmd(),
		newAugmentCmd(),
		newBenchCmd(),
		newServeCmd(),
		newModelsCmd(),
		newEvalCmd(),
		newUsersCmd(),
		newEmbedCmd(),
		newCatalogueCmd(),
		newCaptureCmd(),
	}
}
