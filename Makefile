# Developer commands of the original README (make deps / infra-up / build / dev), as a thin layer over nox
# (noxfile.py has the real steps) and docker-compose.yml. `make help` lists them; docs/deployment.md explains.

PYTHON ?= python3
NOX ?= $(PYTHON) -m nox
# build: the image's tag; LOCAL_BASE=1 makes its base images here (debootstrap, no registry needed)
IMAGE ?= conduix:latest
LOCAL_BASE ?=
COMPOSE ?= docker compose

.DEFAULT_GOAL := help
.PHONY: help deps infra-up infra-down build image dev test test-images bench lint typecheck env up down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps:  ## install nox and prepare the test and dev environments (Python packages, web UI dependencies)
	$(PYTHON) -m pip install --disable-pip-version-check "nox>=2024.4"
	$(NOX) -s tests dev --install-only

infra-up:  ## start Redis and MySQL: this machine's when they run, else the compose file's
	$(NOX) -s infra -- up

infra-down:  ## stop what infra-up started
	$(NOX) -s infra -- down

build:  ## wheels of every package (dist/), the web UI, and the container image (IMAGE=conduix:latest)
	CONDUIX_IMAGE=$(IMAGE) CONDUIX_LOCAL_BASE=$(LOCAL_BASE) $(NOX) -s build

image:  ## only the container image (IMAGE=conduix:latest; LOCAL_BASE=1: no registry)
	CONDUIX_IMAGE=$(IMAGE) CONDUIX_LOCAL_BASE=$(LOCAL_BASE) $(NOX) -s build -- --image-only

dev:  ## control plane + an agent + the web UI's dev server (Ctrl-C stops them)
	$(NOX) -s dev

test:  ## the whole test suite (the README's test command)
	$(NOX) -s tests

test-images:  ## build the image here and test it (control plane and agent from the image)
	$(NOX) -s images

bench:  ## benchmarks: ratios against plain Python loops
	$(NOX) -s bench

lint:  ## ruff
	$(NOX) -s lint

typecheck:  ## mypy
	$(NOX) -s typecheck

env:  ## write .env for docker-compose.yml with random passwords and agent token (kept if it exists)
	$(PYTHON) deploy/devstack.py env

up: env  ## docker compose up -d (the whole stack: control plane, two agents, Redis, MySQL, Kafka)
	$(COMPOSE) up -d

down:  ## docker compose down (volumes are kept)
	$(COMPOSE) down
