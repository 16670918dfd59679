# Prüfplatz. `make run` and `make test` are all a new user needs; both install
# what is missing first (see .setup/setup.sh).
SHELL := /bin/bash
.DEFAULT_GOAL := build

ORT_LIB := $(CURDIR)/.deps/onnxruntime/libonnxruntime.so.1
# gocv asks pkg-config for opencv4; Debian's minimal set ships no .pc file.
export PKG_CONFIG_PATH := $(CURDIR)/.setup$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
# Every go command the Makefile runs finds ONNX Runtime here (the binary also
# looks beside itself and in .deps/, so it needs none of this when run by hand).
export PRUEFPLATZ_ORT_LIB := $(ORT_LIB)
export ONNXRUNTIME_SHARED_LIBRARY_PATH := $(ORT_LIB)
export GOFLAGS := -buildvcs=false -tags=onnx

GO ?= go
BIN := bin/pruefplatz
TEST_TIMEOUT ?= 30m
# Packages that hold Mats; their leak tests run with -tags matprofile.
MATPROFILE_PKGS := $(shell find inspector augment datasets -name '*_test.go' -exec grep -l 'go:build matprofile' {} + 2>/dev/null | xargs -rn1 dirname | sort -u | sed 's|^|./|')

.PHONY: setup setup-test setup-bench build run test verify-models bench bench-augment bench-train bench-station bench-anomaly lint clean demo-data models

setup:
	@.setup/setup.sh

setup-test:
	@.setup/setup.sh .setup/apt-test-packages.txt

setup-bench:
	@.setup/setup.sh .setup/apt-bench-packages.txt

build: setup
	$(GO) build -o $(BIN) ./cmd/pruefplatz

demo-data: build
	./$(BIN) demo-data --out datasets

# serve draws the demo feed first when it is missing and the demo image sets
# in the background, so live verdicts come without waiting for those.
run: build
	./$(BIN) serve

# The suite, with the race detector. The retraining of the shipped models
# is not a unit test: it lives behind verify-models (build tag verifymodels).
test: setup-test
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) -skip '^TestLoadMemoryFlat$$' ./...
	@echo "Load test (memory and throughput; without the race detector, which distorts both):"
	$(GO) test -timeout $(TEST_TIMEOUT) -run '^TestLoadMemoryFlat$$' ./station-ui
	@echo "Mat leak checks (gocv MatProfile):"
	$(GO) test -tags 'onnx matprofile' -count=1 -run 'Leak|FreesMats|MatProfile' $(MATPROFILE_PKGS)

# Proof that the committed default models come from the committed code and
# data: retrains both from their cards (minutes) and compares the accuracy.
verify-models: setup-test
	$(GO) test -tags 'onnx verifymodels' -count=1 -timeout $(TEST_TIMEOUT) -run TestDefaultModelReproduces -v ./models/train

# The shipped default models (committed): `make models` rebuilds them from the
# demo data with the parameters their cards record.
models: build demo-data
	rm -rf models/demo-parts models/demo-defects
	./$(BIN) train --data datasets/demo-parts --name demo-parts --version v1 \
		--input-size 64 --lr 0.01 --epochs 80 --patience 15 --seed 1
	./$(BIN) train --data datasets/demo-defects --name demo-defects --version v1 --ok-labels ok \
		--roi 170,90,300,300 --input-size 128 --stem-stride 2 --lr 0.003 --epochs 64 --patience 25 --seed 1 \
		--pipeline augment/pipelines/fixed-station.yaml

bench: bench-augment bench-train bench-station

bench-augment: setup-bench build
	./$(BIN) bench augment

bench-train: setup-bench build
	./$(BIN) bench train

# bench-anomaly trains the good-only demo model on demo-defects/ok (timed) into
# out/anomaly-models and times its per-frame inference against the bare backbone.
bench-anomaly: build
	./$(BIN) demo-data --out datasets
	mkdir -p out/anomaly-models && ln -sfn ../../models/backbones out/anomaly-models/backbones
	time ./$(BIN) train --anomaly --roi 170,90,300,300 --coreset-ratio 0.02 --data datasets/demo-defects --ok-labels ok --name demo-anomaly --models out/anomaly-models --masks datasets/demo-defects-masks --threads 2
	./$(BIN) bench anomaly --models out/anomaly-models --model demo-anomaly --data datasets/demo-defects --threads 2

bench-station: setup-bench build
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 300x -v ./inspector/station/ ./inspector/bolt/ ./inspector/opencv/ | grep -E '^(Benchmark|ok|FAIL|PASS|building|built)|SKIP|skip|e2e|bench_test'

lint: setup
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin out
	$(GO) clean -testcache
