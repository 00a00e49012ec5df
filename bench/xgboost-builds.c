// The same XGBoost fit through the C API of any libxgboost.so, to compare builds of the library (Debian's package
// against PyPI's wheels) without Python or Neuroplex around it: the training CSV of bench/ml-parity.sh (numeric
// features, the label last, classes 0..k-1) into a dense float matrix, then FITS times a DMatrix from it and 100
// rounds of hist, nthread THREADS, seed 0 (the parity run's settings). Prints the median and the fastest fit, and
// the median time to the end of the first round (matrix, booster and round 1: where a fit allocates its buffers).
//   xgboost-builds <libxgboost.so> <train.csv> <fits> <threads>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void *Handle;
typedef uint64_t bst_ulong;

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *symbol(void *library, const char *name) {
    void *found = dlsym(library, name);
    if (!found) { fprintf(stderr, "%s: %s\n", name, dlerror()); exit(1); }
    return found;
}

static void check(int status, const char *what, const char *(*last_error)(void)) {
    if (status != 0) { fprintf(stderr, "%s: %s\n", what, last_error()); exit(1); }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s <libxgboost.so> <train.csv> <fits> <threads>\n", argv[0]); return 2; }
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    int (*matrix)(const float *, bst_ulong, bst_ulong, float, Handle *) = symbol(library, "XGDMatrixCreateFromMat");
    int (*set_info)(Handle, const char *, const float *, bst_ulong) = symbol(library, "XGDMatrixSetFloatInfo");
    int (*create)(const Handle *, bst_ulong, Handle *) = symbol(library, "XGBoosterCreate");
    int (*set)(Handle, const char *, const char *) = symbol(library, "XGBoosterSetParam");
    int (*update)(Handle, int, Handle) = symbol(library, "XGBoosterUpdateOneIter");
    int (*free_booster)(Handle) = symbol(library, "XGBoosterFree");
    int (*free_matrix)(Handle) = symbol(library, "XGDMatrixFree");
    const char *(*last_error)(void) = symbol(library, "XGBGetLastError");

    FILE *file = fopen(argv[2], "r");
    if (!file) { perror(argv[2]); return 1; }
    static char line[1 << 20];
    if (!fgets(line, sizeof line, file)) { fprintf(stderr, "%s is empty\n", argv[2]); return 1; }
    int columns = 1;
    for (char *c = line; *c; c++) columns += *c == ',';
    int features = columns - 1, rows = 0, capacity = 1024, classes = 0;
    float *values = malloc(sizeof(float) * features * capacity), *labels = malloc(sizeof(float) * capacity);
    while (fgets(line, sizeof line, file)) {
        if (rows == capacity) {
            capacity *= 2;
            values = realloc(values, sizeof(float) * features * capacity);
            labels = realloc(labels, sizeof(float) * capacity);
        }
        char *cursor = line;
        for (int column = 0; column < columns; column++) {
            float value = strtof(cursor, &cursor);
            cursor++;
            if (column < features) values[(size_t)rows * features + column] = value;
            else labels[rows] = value;
        }
        if ((int)labels[rows] + 1 > classes) classes = (int)labels[rows] + 1;
        rows++;
    }
    fclose(file);

    int fits = atoi(argv[3]);
    double *times = calloc(fits, sizeof(double)), *first = calloc(fits, sizeof(double));
    char class_count[16];
    snprintf(class_count, sizeof class_count, "%d", classes);
    for (int fit = 0; fit < fits; fit++) {
        double start = seconds();
        Handle data, booster;
        check(matrix(values, rows, features, NAN, &data), "matrix", last_error);
        check(set_info(data, "label", labels, rows), "labels", last_error);
        check(create(&data, 1, &booster), "booster", last_error);
        check(set(booster, "nthread", argv[4]), "nthread", last_error);
        check(set(booster, "tree_method", "hist"), "tree_method", last_error);
        check(set(booster, "seed", "0"), "seed", last_error);
        if (classes > 2) {
            check(set(booster, "objective", "multi:softprob"), "objective", last_error);
            check(set(booster, "num_class", class_count), "num_class", last_error);
        } else {
            check(set(booster, "objective", "binary:logistic"), "objective", last_error);
        }
        for (int round = 0; round < 100; round++) {
            check(update(booster, round, data), "round", last_error);
            if (round == 0) first[fit] = seconds() - start;
        }
        times[fit] = seconds() - start;
        free_booster(booster);
        free_matrix(data);
    }
    qsort(times, fits, sizeof(double), ascending);
    qsort(first, fits, sizeof(double), ascending);
    printf("fit median %.1f ms, fastest %.1f ms; first round median %.2f ms\n",
           times[fits / 2] * 1e3, times[0] * 1e3, first[fits / 2] * 1e3);
    return 0;
}
