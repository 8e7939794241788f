# Serialine — build, test, benchmark and demo targets.
# `make test` is what CI runs (through .ci/run) on a clean clone.

GO      ?= go
PKGS    ?= ./...
BIN     := bin/serialine
APT_PKGS := zint zxing-cpp-tools dmtx-utils chromium chromium-driver poppler-utils fonts-dejavu-core systemd
# Commands whose presence tells that the APT packages above are installed.
APT_CMDS := zint ZXingReader dmtxread chromium pdftotext pdftoppm systemd-analyze
OPCUA_SECSERVER := devices/opcua/testdata/secserver
OPENSCS_SERVER := line/upstream/openscs/testdata/scsserver
PACKTAGS_NODECLIENT := line/packtags/testdata/nodeclient

# nfpm builds the Debian package; run as a Go module at a pinned version, it
# is not a dependency of serialine (go.mod stays as it is).
NFPM    := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
VERSION ?= 0.1.0+git$(shell git rev-list --count HEAD 2>/dev/null || echo 0).$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# make soak: how long the line soak runs (Go duration).
SOAK_DURATION ?= 24h

.PHONY: all build test vet fmtcheck race bench soak demo tools clean deb cross

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/serialine

vet:
	$(GO) vet $(PKGS)

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

test: tools vet fmtcheck cross
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# cross: the Windows build (the service, paths, file locking): the binary,
# every package compiled for Windows, and vet (tests included) of the
# journal and line packages that have Windows-specific files (cmd/serialine's
# tests use Unix signals).
cross:
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -o bin/serialine.exe ./cmd/serialine
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./store/... ./line

# deb: bin/serialine_<version>_amd64.deb (binary, systemd unit, config);
# tested by packaging/deb_test.go (install, systemd-analyze verify, start).
deb: build
	SERIALINE_VERSION=$(VERSION) $(GO) run $(NFPM) package --config packaging/nfpm.yaml --packager deb --target bin/

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS) | tee bin/bench.txt
	./printer/gs1/bench/zint-compare.sh $(BIN) | tee -a bin/bench.txt

soak:
	SERIALINE_SOAK=1 $(GO) test -count=1 -timeout 60m -run 'Crash' ./store/... ./line/...
	SERIALINE_SOAK=$(SOAK_DURATION) $(GO) test -count=1 -timeout 0 -run 'TestSoakLine' -v ./line/

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
