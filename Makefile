# Build and install nc-harden: the CLI with its manual pages and bash, zsh and fish
# completions, the shared library with its soname links, the static library, the header and
# a pkg-config file; and, in share/nc-harden/, the shell launcher functions (launcher.sh) and
# the Python ctypes helper (nc_harden.py), and the stubs that put nc-harden in place of
# NemoClaw's guards (nemoclaw/*.py, paths substituted).
#
#   make                                  # cargo build --release
#   make install PREFIX=/usr DESTDIR=/tmp/stage
#   make install-static install-dev       # a prefix with the static library only
#
# Libs.private of nc-harden.pc is what `rustc --print native-static-libs` gives for the
# staticlib; the install test links a program against it with `pkg-config --static`.

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR     ?= $(PREFIX)/share
MAN1DIR     ?= $(DATADIR)/man/man1
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
NCSHAREDIR  ?= $(DATADIR)/nc-harden
# Where a NemoClaw image keeps its guards; the drop-in stubs hand the actions nc-harden does
# not perform to the originals, moved aside there (docs/nemoclaw-drop-in.md).
NEMOCLAW_LIBDIR ?= /usr/local/lib/nemoclaw
PROFILE     ?= release
CARGO       ?= cargo
TARGET_DIR  ?= target

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
OUT := $(TARGET_DIR)/$(PROFILE)
HOST := $(shell rustc -vV | sed -n 's/^host: //p')
# The static-pie CLI is built for the host triple given explicitly, so that it has a directory
# of its own and never replaces the ordinary build's binary.
CLI_OUT := $(TARGET_DIR)/$(HOST)/$(PROFILE)
# Manual pages and completion scripts, written by the CLI just built (hidden `man` and
# `completions` subcommands), so that they describe the command line installed with them.
DOC_OUT := $(CLI_OUT)/doc
CARGO_PROFILE := $(if $(filter release,$(PROFILE)),--release,--profile $(PROFILE))
# The static-pie CLI of a release build is optimised for size, with fat LTO and one codegen
# unit (its own target directory keeps the libraries' build as it is): a call of it is mostly
# process start and a few hundred system calls, and every page of code it touches is a page
# fault, some 3 us on a virtual machine. About 20 faults fewer a freeze (BENCHMARKS.md).
CLI_PROFILE_ENV := $(if $(filter release,$(PROFILE)),CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1)
# Its relative relocations packed (DT_RELR, glibc 2.36 and binutils 2.38 on): 2,600 of them
# in 62 KiB of RELA read and applied at every start become 1.3 KiB, three page faults and
# some 6,000 instructions fewer a process (BENCHMARKS.md). Left out where the linker lacks it:
# asked of `cc`, rustc's linker, and only when `build` runs (`=`, not `:=`).
RELR_FLAG = $(shell printf 'int main(void){return 0;}' | cc -x c - -static-pie -Wl,-z,pack-relative-relocs -o /dev/null 2>/dev/null && echo '-C link-arg=-Wl,-z,pack-relative-relocs')
ifeq ($(PROFILE),debug)
CARGO_PROFILE :=
endif

.PHONY: all build install install-bin install-doc install-shared install-static install-dev install-share uninstall

all: build

build:
	$(CARGO) build --locked --workspace $(CARGO_PROFILE) --target-dir $(TARGET_DIR)
	# The CLI again as a static-pie executable: it starts as fast as /bin/true and needs no
	# particular libc in the container image, and no test code (the demo is left out). (Only the
	# binary: the libraries stay as they are.)
	$(CLI_PROFILE_ENV) $(CARGO) rustc --locked -p nc-harden-cli --bin nc-harden --no-default-features $(CARGO_PROFILE) --target $(HOST) --target-dir $(TARGET_DIR) -- -C target-feature=+crt-static $(RELR_FLAG)
	rm -rf $(DOC_OUT)
	mkdir -p $(DOC_OUT)/man
	$(CLI_OUT)/nc-harden man $(DOC_OUT)/man
	$(CLI_OUT)/nc-harden completions bash > $(DOC_OUT)/nc-harden.bash
	$(CLI_OUT)/nc-harden completions zsh > $(DOC_OUT)/_nc-harden
	$(CLI_OUT)/nc-harden completions fish > $(DOC_OUT)/nc-harden.fish

install: install-bin install-doc install-shared install-static install-dev install-share

install-bin: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(CLI_OUT)/nc-harden $(DESTDIR)$(BINDIR)/nc-harden

install-doc: build
	install -d $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0644 $(DOC_OUT)/man/*.1 $(DESTDIR)$(MAN1DIR)/
	install -m 0644 $(DOC_OUT)/nc-harden.bash $(DESTDIR)$(BASHCOMPDIR)/nc-harden
	install -m 0644 $(DOC_OUT)/_nc-harden $(DESTDIR)$(ZSHCOMPDIR)/_nc-harden
	install -m 0644 $(DOC_OUT)/nc-harden.fish $(DESTDIR)$(FISHCOMPDIR)/nc-harden.fish

install-shared: build
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0755 $(OUT)/libnc_harden.so $(DESTDIR)$(LIBDIR)/libnc_harden.so.$(VERSION)
	ln -sfn libnc_harden.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libnc_harden.so.$(MAJOR)
	ln -sfn libnc_harden.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libnc_harden.so

install-static: build
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0644 $(OUT)/libnc_harden.a $(DESTDIR)$(LIBDIR)/libnc_harden.a

install-dev:
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 include/nc_harden.h $(DESTDIR)$(INCLUDEDIR)/nc_harden.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|' \
	    nc-harden.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/nc-harden.pc

# Plain files, nothing to build: `. $(NCSHAREDIR)/launcher.sh` in an entrypoint.
install-share:
	install -d $(DESTDIR)$(NCSHAREDIR)
	install -m 0644 examples/launcher.sh $(DESTDIR)$(NCSHAREDIR)/launcher.sh
	install -m 0644 examples/nc_harden.py $(DESTDIR)$(NCSHAREDIR)/nc_harden.py
	install -d $(DESTDIR)$(NCSHAREDIR)/nemoclaw
	for guard in openclaw-config-guard state-dir-guard; do \
	    sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@NEMOCLAW_LIBDIR@|$(NEMOCLAW_LIBDIR)|g' \
	        share/nc-harden/nemoclaw/$$guard.py > $(DESTDIR)$(NCSHAREDIR)/nemoclaw/$$guard.py && \
	    chmod 0644 $(DESTDIR)$(NCSHAREDIR)/nemoclaw/$$guard.py || exit 1; \
	done
	install -d $(DESTDIR)$(NCSHAREDIR)/profiles
	install -m 0644 share/nc-harden/profiles/openclaw.toml share/nc-harden/profiles/hermes.toml \
	    $(DESTDIR)$(NCSHAREDIR)/profiles/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nc-harden $(DESTDIR)$(LIBDIR)/libnc_harden.so* \
	      $(DESTDIR)$(LIBDIR)/libnc_harden.a $(DESTDIR)$(INCLUDEDIR)/nc_harden.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/nc-harden.pc \
	      $(DESTDIR)$(MAN1DIR)/nc-harden.1 $(DESTDIR)$(MAN1DIR)/nc-harden-*.1 \
	      $(DESTDIR)$(BASHCOMPDIR)/nc-harden $(DESTDIR)$(ZSHCOMPDIR)/_nc-harden \
	      $(DESTDIR)$(FISHCOMPDIR)/nc-harden.fish \
	      $(DESTDIR)$(NCSHAREDIR)/launcher.sh $(DESTDIR)$(NCSHAREDIR)/nc_harden.py \
	      $(DESTDIR)$(NCSHAREDIR)/nemoclaw/openclaw-config-guard.py \
	      $(DESTDIR)$(NCSHAREDIR)/nemoclaw/state-dir-guard.py \
	      $(DESTDIR)$(NCSHAREDIR)/profiles/openclaw.toml $(DESTDIR)$(NCSHAREDIR)/profiles/hermes.toml
	-rmdir $(DESTDIR)$(NCSHAREDIR)/nemoclaw
	-rmdir $(DESTDIR)$(NCSHAREDIR)/profiles
	-rmdir $(DESTDIR)$(NCSHAREDIR)
