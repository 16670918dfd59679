package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/spf13/cobra"
)

const ortLibName = "libonnxruntime.so.1"

// ortLibPath finds the ONNX Runtime library: the --ort-lib flag, then
// $PRUEFPLATZ_ORT_LIB, then beside the binary, then .deps/onnxruntime/ in the
// working directory or any parent (a checkout). The error lists every place
// it looked, so a user knows where to put the file.
func ortLibPath(cmd *cobra.Command) (string, error) {
	var tried []string
	try := func(p string) bool {
		if p == "" {
			return false
		}
		tried = append(tried, p)
		st, err := os.Stat(p)
		return err == nil && !st.IsDir()
	}
	if f := cmd.Flag("ort-lib"); f != nil && f.Value.String() != "" {
		if p := f.Value.String(); try(p) {
			return p, nil
		}
		return "", fmt.Errorf("--ort-lib %s: no such file", f.Value.String())
	}
	if p := os.Getenv("PRUEFPLATZ_ORT_LIB"); try(p) {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if try(filepath.Join(dir, ortLibName)) {
			return filepath.Join(dir, ortLibName), nil
		}
		// bin/pruefplatz in a checkout: the library is in ../.deps.
		if p := filepath.Join(filepath.Dir(dir), ".deps", "onnxruntime", ortLibName); try(p) {
			return p, nil
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if p := filepath.Join(dir, ".deps", "onnxruntime", ortLibName); try(p) {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", errors.New("ONNX Runtime library not found; looked at:\n  " + strings.Join(tried, "\n  ") +
		"\nrun `make setup` in the checkout, or pass --ort-lib / set PRUEFPLATZ_ORT_LIB")
}

// initORT finds the ONNX Runtime library (ortLibPath) and loads it.
func initORT(cmd *cobra.Command) error {
	lib, err := ortLibPath(cmd)
	if err != nil {
		return err
	}
	return onnx.Init(lib)
}
