# Hub: the two commands that matter are `make run` and `make test`.
.DEFAULT_GOAL := test

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PKGS    := ./...
# The image the Helm chart names by default: ghcr.io/hubrt/hub:<appVersion>.
IMAGE       ?= ghcr.io/hubrt/hub
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' deploy/helm/hub/Chart.yaml)
FUZZTIME ?= 10m

.PHONY: build run test test-short e2e bench lint tidy fuzz helm-test loadtest loadtest-history image image-push image-tag clean

build: ## build bin/hub
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/hub ./cmd/hub

run: build ## start one node in development mode with embedded NATS
	./bin/hub -dev -demo

test: ## the whole suite, race detector on; skipped tests and why are listed at the end
	$(GO) vet $(PKGS)
	$(GO) tool gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg -- -race -count=1 -timeout 15m $(PKGS)

test-short:
	$(GO) test -count=1 -short $(PKGS)

e2e: ## the browser tests (headless Chromium + chromedriver; with CI=true a missing browser fails)
	$(GO) test -race -count=1 -timeout 5m -v ./e2e

bench: ## micro-benchmarks (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./protocol ./gateway ./actors

lint: tidy ## go vet + gofmt check + tidy module; the module and its tests still build and vet off Linux
	$(GO) vet $(PKGS)
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tidy: ## fail when go.mod or go.sum are not tidy
	@cp go.mod /tmp/hub-go.mod.$$$$ && cp go.sum /tmp/hub-go.sum.$$$$; \
	GOFLAGS= $(GO) mod tidy; \
	if ! cmp -s go.mod /tmp/hub-go.mod.$$$$ || ! cmp -s go.sum /tmp/hub-go.sum.$$$$; then \
	  echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; git --no-pager diff -- go.mod go.sum; \
	  cp /tmp/hub-go.mod.$$$$ go.mod; cp /tmp/hub-go.sum.$$$$ go.sum; rm -f /tmp/hub-go.*.$$$$; exit 1; fi; \
	rm -f /tmp/hub-go.*.$$$$

fuzz: ## run every fuzz target for FUZZTIME each
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeFast$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReply$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzReadFrames$$' -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzReadDeflateFrames$$' -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzHandshake$$' -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzParseHead$$' -fuzztime $(FUZZTIME) ./gateway
	$(GO) test -run '^$$' -fuzz '^FuzzValidName$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzParseSecret$$' -fuzztime $(FUZZTIME) ./cluster
	$(GO) test -run '^$$' -fuzz '^FuzzMatch$$' -fuzztime $(FUZZTIME) ./namespace
	$(GO) test -run '^$$' -fuzz '^FuzzConnectAnswer$$' -fuzztime $(FUZZTIME) ./backend

helm-test: ## lint, render and strictly decode the Helm chart
	bash deploy/helm/check.sh

loadtest: build ## every case of PERF.md against local nodes and the floor server, medians of 3 runs
	mkdir -p loadtest/results
	./bin/hub bench -spawn -case all -runs 3 -chat-duration 10s >loadtest/results/all.txt 2>loadtest/results/all.log; \
	  status=$$?; cat loadtest/results/all.txt; exit $$status

loadtest-history: build ## the history cases of PERF.md (burst R1, sustained R3, recovery storm) beside the same runs without history, medians of 3 (about 3 minutes; apart from loadtest, which they would take past 10 minutes)
	mkdir -p loadtest/results
	./bin/hub bench -spawn -case history -runs 3 >loadtest/results/history.txt 2>loadtest/results/history.log; \
	  status=$$?; cat loadtest/results/history.txt; exit $$status

image: ## the image the chart names, $(IMAGE):<Chart.yaml appVersion> (needs a Docker engine)
	docker build --build-arg VERSION=$(APP_VERSION) -t $(IMAGE):$(APP_VERSION) .

image-push: image ## push it (IMAGE=registry/you/hub to push elsewhere; then helm --set image.repository=...)
	docker push $(IMAGE):$(APP_VERSION)

image-tag: ## print the tag make image builds
	@echo $(IMAGE):$(APP_VERSION)

clean:
	rm -rf bin dist
