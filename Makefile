# lethe: plain Makefile. Probes what the machine has and says so.
#
#   make                 library, CLI, tests and benchmarks (build/)
#   make test            every test (unit, fixtures, CLI bad-input)
#   make SANITIZE=1 test the same under ASan+UBSan (build-san/)
#   make DEBUG=1         -O0 -g
#   make demo            set up nothing, just build and run the main job
#   make install         include/lethe.h, the public liblethe.a and lethe.pc into PREFIX (/usr/local; DESTDIR honoured)
#   make fuzz            libFuzzer harnesses for the file readers (clang)
#   make CUDA=1          also the CUDA backend (nvcc, cuBLAS; build-cuda/); runs without a GPU
#                        on the CPU and says so when --device cuda finds none
#   NO_OMP=1  NATIVE=0  V=1 (show commands)  CUDA_ARCH="..." (nvcc -gencode flags)

CC      ?= gcc
ifeq ($(CC),cc)
CC := gcc
endif
PKG     ?= pkg-config
OBJCOPY ?= objcopy
VERSION := $(shell sed -n 's/.*lethe_version(void) { return "\([0-9.]*\)".*/\1/p' src/api/status.c)
# the pkg-config packages and linker flags of lethe.pc (static linking needs all of them)
PC_REQUIRES := openblas lapacke zlib libcjson nettle
PC_LIBS :=

BUILD   := build
OPT     := -O3
ifeq ($(NATIVE),0)
ARCH    :=
else
ARCH    := -march=native
endif
ifeq ($(DEBUG),1)
OPT     := -O0 -g
BUILD   := build-debug
endif
ifeq ($(VALGRIND),1)
# valgrind 3.19 cannot run AVX-512 instructions: a build for the baseline x86-64 ISA
OPT     := -O1 -g
ARCH    :=
BUILD   := build-vg
endif
ifeq ($(SANITIZE),1)
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
BUILD   := build-san
endif
ifeq ($(CUDA),1)
BUILD   := $(BUILD)-cuda
endif

# -Wno-format-truncation: path buffers are PATH_MAX (4096); gcc -O3 warns on every snprintf into them.
# -Wno-missing-field-initializers: option tables leave trailing optional fields (alias) out.
# -fno-trapping-math: lethe never reads the floating-point exception flags (it tests values with
# isfinite), and without the flag gcc refuses to if-convert the comparisons of the inlined
# expf/normal CDF, so SiLU, GroupNorm+SiLU, GEGLU and QuickGELU ran scalar (docs/benchmarks.md,
# 2026-12-07). It changes no result: no reassociation, the same operations per element.
# WERROR= (empty) keeps warnings as warnings, for a newer compiler's new warnings.
WERROR  ?= -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-format-truncation -Wno-missing-field-initializers -fno-trapping-math $(OPT) $(ARCH) \
           -Isrc -Iinclude
LDFLAGS := $(filter -fsanitize=%,$(OPT))
LDLIBS  := -lm
PC_LIBS += $(LDFLAGS)

# ---- probes -------------------------------------------------------------------
have = $(shell $(PKG) --exists $(1) 2>/dev/null && echo 1)

ifeq ($(call have,openblas),1)
  CFLAGS += $(shell $(PKG) --cflags openblas)
  LDLIBS += $(shell $(PKG) --libs openblas)
  $(info ✓ OpenBLAS found)
else
  $(error ✗ OpenBLAS not found: run scripts/setup.sh (apt-get install libopenblas-dev))
endif
ifeq ($(call have,lapacke),1)
  LDLIBS += $(shell $(PKG) --libs lapacke)
  $(info ✓ LAPACKE found)
else
  $(error ✗ LAPACKE not found: run scripts/setup.sh (apt-get install liblapacke-dev))
endif
ifeq ($(call have,zlib),1)
  LDLIBS += $(shell $(PKG) --libs zlib)
  $(info ✓ zlib found)
else
  $(error ✗ zlib not found: run scripts/setup.sh (apt-get install zlib1g-dev))
endif
ifeq ($(call have,libcjson),1)
  CFLAGS += $(shell $(PKG) --cflags libcjson)
  LDLIBS += $(shell $(PKG) --libs libcjson)
  $(info ✓ cJSON found)
else
  $(error ✗ cJSON not found: run scripts/setup.sh (apt-get install libcjson-dev))
endif
ifeq ($(call have,nettle),1)
  CFLAGS += $(shell $(PKG) --cflags nettle)
  LDLIBS += $(shell $(PKG) --libs nettle)
  $(info ✓ nettle found (SHA-256 of checkpoints))
else
  $(error ✗ nettle not found: run scripts/setup.sh (apt-get install nettle-dev))
endif
STB_DIR ?= /usr/include/stb
ifneq ($(wildcard $(STB_DIR)/stb_image_write.h),)
  CFLAGS += -I$(STB_DIR)
  $(info ✓ stb found)
else
  $(error ✗ stb not found: run scripts/setup.sh (apt-get install libstb-dev))
endif
# oneDNN (optional): the GEMM of the CPU ops where it is faster (src/ops/cpu/gemm.c);
# NO_DNNL=1 builds without it (OpenBLAS then does every GEMM)
ifneq ($(NO_DNNL),1)
  ifneq ($(wildcard /usr/include/oneapi/dnnl/dnnl.h),)
    CFLAGS += -DLETHE_HAVE_DNNL
    LDLIBS += -ldnnl
    PC_LIBS += -ldnnl
    $(info ✓ oneDNN found (the CPU ops' GEMM; LETHE_GEMM=openblas to compare))
  else
    $(info ✗ oneDNN not found (OpenBLAS does every GEMM; apt-get install libdnnl-dev))
  endif
endif
ifeq ($(NO_OMP),1)
  CFLAGS += -fopenmp-simd   # `omp simd` loops (the Winograd transforms) still vectorise
  $(info ✗ OpenMP disabled (NO_OMP=1): everything but GEMM runs on one core)
else
  ifeq ($(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1),1)
    CFLAGS += -fopenmp
    LDFLAGS += -fopenmp
    PC_LIBS += -fopenmp
    $(info ✓ OpenMP found)
  else
    CFLAGS += -fopenmp-simd
    $(warning ✗ OpenMP not found: elementwise ops will use one core)
  endif
endif
ifeq ($(call have,cmocka),1)
  TEST_LIBS := $(shell $(PKG) --libs cmocka)
  $(info ✓ cmocka found)
else
  $(warning ✗ cmocka not found: tests will not build (apt-get install libcmocka-dev))
endif
NVCC ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
ifeq ($(CUDA),1)
  ifeq ($(NVCC),)
    $(error ✗ CUDA=1 but nvcc not found: put the CUDA toolkit's bin/ on PATH or set NVCC=)
  endif
  CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(realpath $(NVCC))))
  # Ampere (sm_80; 8.6/8.9 run it too) and Hopper (sm_90) code, plus compute_90 PTX that
  # newer GPUs compile at load time.
  CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
               -gencode arch=compute_90,code=compute_90
  NVCCFLAGS := -O3 -std=c++17 $(CUDA_ARCH) -Isrc -Xcompiler -Wall,-Wextra,-Wno-unused-parameter $(if $(WERROR),-Xcompiler -Werror) \
               $(if $(filter -g%,$(OPT)),-g -lineinfo)
  CFLAGS  += -DLETHE_CUDA
  LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
  PC_LIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
  $(info ✓ CUDA backend: $(NVCC) ($(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')), sm_80 sm_90 + PTX, cuBLAS from $(CUDA_HOME))
else ifneq ($(NVCC),)
  $(info ✓ nvcc found (CUDA backend off: make CUDA=1 to build it))
else
  $(info ✗ nvcc not found, skipping CUDA)
endif
ifneq ($(shell command -v mpicc 2>/dev/null),)
  $(info ✓ MPI found (not used yet))
else
  $(info ✗ MPI not found (multi-process runs disabled))
endif

# ---- sources ----------------------------------------------------------------------
LIB_SRC   := $(sort $(wildcard src/core/*.c src/ops/*.c src/ops/cpu/*.c src/nn/*.c src/diffusion/*.c \
                               src/optim/*.c src/io/*.c src/data/*.c src/eval/*.c src/unlearn/*.c src/api/*.c))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))

ifeq ($(CUDA),1)
LIB_SRC   += $(sort $(wildcard src/ops/cuda/*.c))
CU_SRC    := $(sort $(wildcard src/ops/cuda/*.cu))
endif

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
# liblethe.a in $(BUILD) is the internal archive (every symbol; the CLI, tests and benchmarks
# link it); public/liblethe.a, the one `make install` installs, is one prelinked object whose
# only global symbols are the functions of include/lethe.h (public/symbols.txt).
LIB       := $(BUILD)/liblethe.a
PUBLIC_LIB := $(BUILD)/public/liblethe.a
API_SYMS  := $(BUILD)/public/symbols.txt
EXAMPLES  := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
BIN       := $(BUILD)/lethe
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all lib test test-quick valgrind demo fuzz install clean
all: $(LIB) $(BIN) $(PUBLIC_LIB) $(EXAMPLES) $(TESTS) $(BENCHES)
lib: $(LIB) $(PUBLIC_LIB)

V ?= 0
ifeq ($(V),0)
Q := @
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC  $<")
	$(Q)$(NVCC) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR    $@")
	$(Q)rm -f $@ && ar rcs $@ $^   # anew: an object whose source moved or went must not linger

# every lethe_* function the public header declares
$(API_SYMS): include/lethe.h
	@mkdir -p $(dir $@)
	$(Q)grep -o '\blethe_[a-z0-9_]*(' $< | tr -d '(' | sort -u >$@

$(PUBLIC_LIB): $(LIB_OBJ) $(API_SYMS)
	@$(if $(Q),echo "  AR    $@ (public: lethe_* only)")
	$(Q)$(LD) -r -o $(BUILD)/public/lethe.o $(LIB_OBJ)
	$(Q)$(OBJCOPY) --keep-global-symbols=$(API_SYMS) $(BUILD)/public/lethe.o
	$(Q)rm -f $@ && ar rcs $@ $(BUILD)/public/lethe.o

# the examples see include/lethe.h only, and link the public archive as an embedding program would
$(BUILD)/examples/%: examples/%.c include/lethe.h $(PUBLIC_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) -std=c11 -Wall -Wextra $(WERROR) $(OPT) -Iinclude $< $(PUBLIC_LIB) $(LDFLAGS) $(LDLIBS) -o $@

$(BIN): $(CLI_OBJ) $(LIB)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $(CLI_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) tests/test_util.h tests/unlearn_toy.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) -Itests $(LDFLAGS) $< $(LIB) $(LDLIBS) $(TEST_LIBS) -o $@

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

# make install [PREFIX=/usr/local] [DESTDIR=]: the header, the public archive and lethe.pc
# (static linking needs the dependencies: pkg-config --cflags --libs lethe lists them).
PREFIX  ?= /usr/local
install: $(PUBLIC_LIB)
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/lethe.h $(DESTDIR)$(PREFIX)/include/lethe.h
	install -m 644 $(PUBLIC_LIB) $(DESTDIR)$(PREFIX)/lib/liblethe.a
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: lethe' 'Description: machine unlearning for diffusion models (static library)' 'Version: $(VERSION)' \
	  'Requires: $(PC_REQUIRES)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -llethe $(strip $(PC_LIBS))' \
	  >$(DESTDIR)$(PREFIX)/lib/pkgconfig/lethe.pc

test: all
	BUILD=$(BUILD) tests/run_all.sh

# every test but the statistical checks on real Fashion-MNIST runs (tests/cli/test_sanity.sh)
test-quick: all
	LETHE_QUICK=1 BUILD=$(BUILD) tests/run_all.sh

# memcheck over the CLI paths the tests exercise (about 2 minutes on 2 cores)
valgrind:
	$(MAKE) VALGRIND=1 build-vg/lethe
	LETHE=build-vg/lethe tests/valgrind.sh

demo: $(BIN)
	./$(BIN) demo

# libFuzzer harnesses (clang only); run e.g. build-fuzz/fuzz_safetensors -max_total_time=300
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
fuzz: $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
build-fuzz/%: fuzz/%.c $(LIB_SRC)
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Iinclude \
	  -I/usr/include/stb $(shell $(PKG) --cflags openblas libcjson) $< $(LIB_SRC) \
	  $(shell $(PKG) --libs openblas lapacke zlib libcjson nettle) -lm -fopenmp -o $@

clean:
	rm -rf build build-san build-debug build-vg build-fuzz build-cuda build-debug-cuda build-san-cuda

PC_LIBS += -lm

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
