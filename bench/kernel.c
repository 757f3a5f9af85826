// The real kernel's cost of the operations bench/run compares the model with, on this
// machine: anonymous private mappings without huge pages, populated by writing every page.
// Prints one line per operation: "SIZE OP NS_PER_PAGE".
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void populate(char *base, size_t size) {
    for (size_t offset = 0; offset < size; offset += 4096) base[offset] = (char)(offset >> 12);
}

static void check(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(1);
    }
}

static void run(const char *label, size_t size) {
    size_t pages = size / 4096;
    double t;
    t = now_ns();
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    double mmap_ns = now_ns() - t;
    check(base != MAP_FAILED, "mmap");
    check(madvise(base, size, MADV_NOHUGEPAGE) == 0, "madvise(MADV_NOHUGEPAGE)");
    printf("%s mmap %.3f\n", label, mmap_ns / pages);
    t = now_ns();
    populate(base, size);
    printf("%s populate %.3f\n", label, (now_ns() - t) / pages);
    t = now_ns();
    check(mprotect(base, size, PROT_READ) == 0, "mprotect");
    printf("%s mprotect_ro %.3f\n", label, (now_ns() - t) / pages);
    t = now_ns();
    check(mprotect(base, size, PROT_READ | PROT_WRITE) == 0, "mprotect");
    printf("%s mprotect_rw %.3f\n", label, (now_ns() - t) / pages);
    t = now_ns();
    check(madvise(base, size, MADV_DONTNEED) == 0, "madvise(MADV_DONTNEED)");
    printf("%s madvise_dontneed %.3f\n", label, (now_ns() - t) / pages);
    populate(base, size);
    t = now_ns();
    check(munmap(base, size) == 0, "munmap");
    printf("%s munmap %.3f\n", label, (now_ns() - t) / pages);
}

static void fork_bench(size_t size) {
    size_t pages = size / 4096;
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(base != MAP_FAILED, "mmap");
    check(madvise(base, size, MADV_NOHUGEPAGE) == 0, "madvise(MADV_NOHUGEPAGE)");
    /* The fastest of three forks, each after every page was written again (the last fork
       write-protected them) and its child gone, as the model's are taken. */
    double best = 1e300;
    for (int round = 0; round < 3; round++) {
        populate(base, size);
        double t = now_ns();
        pid_t child = fork();
        check(child >= 0, "fork");
        if (child == 0) _exit(0);
        double elapsed = now_ns() - t;
        waitpid(child, NULL, 0);
        if (elapsed < best) best = elapsed;
    }
    printf("256MiB fork %.3f\n", best / pages);
    munmap(base, size);
}

int main(void) {
    run("64MiB", 64ul << 20);
    run("1GiB", 1ul << 30);
    fork_bench(256ul << 20);
    return 0;
}
