# Serialine — build, test, benchmark and demo targets.
# `make test` is what CI runs (through .ci/run) on a clean clone.

GO      ?= go
PKGS    ?= ./...
BIN     := bin/serialine
APT_PKGS := zint zxing-cpp-tools dmtx-utils chromium chromium-driver poppler-utils fonts-dejavu-core
# Commands whose presence tells that the APT packages above are installed.
APT_CMDS := zint ZXingReader dmtxread chromium pdftotext pdftoppm
OPCUA_SECSERVER := devices/opcua/testdata/secserver
OPENSCS_SERVER := line/upstream/openscs/testdata/scsserver
PACKTAGS_NODECLIENT := line/packtags/testdata/nodeclient

.PHONY: all build test vet fmtcheck race bench soak demo tools clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/serialine

vet:
	$(GO) vet $(PKGS)

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

test: tools vet fmtcheck
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS) | tee bin/bench.txt
	./printer/gs1/bench/zint-compare.sh $(BIN) | tee -a bin/bench.txt

soak:
	SERIALINE_SOAK=1 $(GO) test -count=1 -timeout 60m -run 'Crash|Soak' ./store/... ./line/...

demo: build
	./$(BIN) demo

# tools installs the Debian packages the tests need, when they are missing.
tools:
	@missing=""; for c in $(APT_CMDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing $(APT_PKGS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PKGS); \
	fi
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }
	@# node-opcua-server: the third-party OPC UA server (Basic256Sha256) the OPC UA client is tested against.
	@[ -d $(OPCUA_SECSERVER)/node_modules ] || npm ci --prefix $(OPCUA_SECSERVER) --no-audit --no-fund --loglevel=error
	@# node-opcua Open-SCS server: the independent implementation the Open-SCS client's method calls are tested against.
	@[ -d $(OPENSCS_SERVER)/node_modules ] || npm ci --prefix $(OPENSCS_SERVER) --no-audit --no-fund --loglevel=error
	@# node-opcua-client: the third-party OPC UA client that browses the PackTags (OPC 30050) server.
	@[ -d $(PACKTAGS_NODECLIENT)/node_modules ] || npm ci --prefix $(PACKTAGS_NODECLIENT) --no-audit --no-fund --loglevel=error

clean:
	rm -rf bin
