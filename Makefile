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

.PHONY: setup setup-test setup-bench build run test verify-models bench bench-augment bench-train bench-embed bench-station bench-catalogue bench-anomaly bench-capture lint clean demo-data models

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

# The suite, with the race detector. Two packages run without it:
# datasets/demo only draws pictures (pure-Go pixel loops the detector slows
# about twentyfold), and the load test measures memory and throughput, which
# the detector distorts. checkptr is off because GoMLX's pure-Go backend
# does pointer arithmetic it rejects. The retraining of the shipped models
# is not a unit test: it lives behind verify-models (build tag verifymodels).
RACE_FLAGS := -race -gcflags=all=-d=checkptr=0
test: setup-test
	$(GO) vet ./...
	$(GO) test $(RACE_FLAGS) -timeout $(TEST_TIMEOUT) -skip '^TestLoadMemoryFlat$$' $$($(GO) list ./... | grep -v '/datasets/demo$$')
	$(GO) test -timeout $(TEST_TIMEOUT) ./datasets/demo
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
	./$(BIN) train --backbone none --data datasets/demo-parts --name demo-parts --version v1 \
		--input-size 64 --lr 0.01 --epochs 80 --patience 15 --seed 1
	./$(BIN) train --backbone none --data datasets/demo-defects --name demo-defects --version v1 --ok-labels ok \
		--roi 170,90,300,300 --input-size 128 --stem-stride 2 --lr 0.003 --epochs 64 --patience 25 --seed 1 \
		--pipeline augment/pipelines/fixed-station.yaml

bench: bench-augment bench-train bench-embed bench-station bench-catalogue bench-anomaly bench-capture

bench-augment: setup-bench build
	./$(BIN) bench augment

bench-train: setup-bench build
	./$(BIN) bench train

# The capture goals (docs/capture.md): the time of a simulated 12-angle
# turntable session, then a model trained with default settings on what
# the simulated rig captured: 6 demo classes x 20 parts x 12 angles, split
# by session. Minutes of CPU; writes only under CAPTURE_BENCH.
CAPTURE_BENCH ?= /tmp/pruefplatz-bench-capture
CAPTURE_PARTS ?= $(shell seq 0 19)
bench-capture: build
	$(GO) test -run '^$$' -bench '^BenchmarkTurntableSession$$' -benchtime 5x ./datasets/demo
	rm -rf $(CAPTURE_BENCH) && mkdir -p $(CAPTURE_BENCH)
	time (for c in angle_bracket ball_bearing hex_bolt hex_nut spring washer; do for p in $(CAPTURE_PARTS); do \
		./$(BIN) capture --rig sim --class $$c --sim-part $$p --angles 12 --by bench --out $(CAPTURE_BENCH)/data > /dev/null || exit 1; \
	done; done)
	./$(BIN) dataset inspect $(CAPTURE_BENCH)/data
	time ./$(BIN) train --data $(CAPTURE_BENCH)/data --models $(CAPTURE_BENCH)/models --name captured-parts --version v1 2>&1 | grep -v 'epoch.*img/s'

bench-embed: setup build
	./$(BIN) bench embed

bench-catalogue: setup-bench build
	./$(BIN) bench catalogue

# bench-anomaly trains the good-only demo models on demo-defects/ok (timed) into
# out/anomaly-models: demo-pos, the model of the demo-defects goals (patch,
# positional and global part), and demo-anomaly (patch part only), then times
# their per-frame inference against the bare backbone.
bench-anomaly: build
	./$(BIN) demo-data --out datasets
	mkdir -p out/anomaly-models && ln -sfn ../../models/backbones out/anomaly-models/backbones
	time ./$(BIN) train --anomaly --roi 170,90,300,300 --positional 32 --global-words 64 --data datasets/demo-defects --ok-labels ok --name demo-pos --models out/anomaly-models --masks datasets/demo-defects-masks --threads 2
	time ./$(BIN) train --anomaly --roi 170,90,300,300 --data datasets/demo-defects --ok-labels ok --name demo-anomaly --models out/anomaly-models --masks datasets/demo-defects-masks --threads 2
	./$(BIN) bench anomaly --models out/anomaly-models --model demo-pos --data datasets/demo-defects --threads 2
	./$(BIN) bench anomaly --models out/anomaly-models --model demo-anomaly --data datasets/demo-defects --threads 2

bench-station: setup-bench build
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchtime 300x -v ./inspector/station/ ./inspector/bolt/ ./inspector/opencv/ | grep -E '^(Benchmark|ok|FAIL|PASS|building|built)|SKIP|skip|e2e|bench_test'
	@echo "Frame path of a model on the pretrained backbone (a head trained here on a small demo set):"
	rm -rf out/bench-backbone
	./$(BIN) demo-data --out out/bench-backbone/data --per-class 12 --feed-parts 1 >/dev/null
	./$(BIN) train --backbone mobilenet-v2 --backbones models/backbones --data out/bench-backbone/data/demo-parts \
		--name bench-backbone --models out/bench-backbone/models --cache-dir out/bench-backbone/cache >/dev/null
	set -o pipefail; $(GO) test -run '^$$' -bench 'FramePath$$' -benchtime 300x -v ./inspector/station/ \
		-args -models $(CURDIR)/out/bench-backbone/models -model bench-backbone | grep -E '^(Benchmark|ok|FAIL)'

lint: setup
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

clean:
	rm -rf bin out
	$(GO) clean -testcache
