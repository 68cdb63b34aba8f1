package dev.ncs.kernel;

import java.util.Arrays;

/** Plain Java implementations of the kernels: the independent references the tests compare against. */
public final class References {

    private References() {
    }

    /** c[m,n] = a[m,k] b[k,n], row-major, the textbook triple loop. */
    public static double[] matmul(double[] a, double[] b, int m, int k, int n) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    sum += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = sum;
            }
        }
        return c;
    }

    /** count, mean, population std, min, max with numpy's NaN and empty-input semantics. */
    public static double[] describe(double[] x) {
        int n = x.length;
        if (n == 0) {
            return new double[] {0, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        }
        if (Arrays.stream(x).anyMatch(Double::isNaN)) {
            return new double[] {n, Double.NaN, Double.NaN, Double.NaN, Double.NaN};
        }
        double sum = 0;
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) {
            sum += v;
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        double mean = sum / n;
        double squares = 0;
        for (double v : x) {
            squares += (v - mean) * (v - mean);
        }
        return new double[] {n, mean, Math.sqrt(squares / n), min, max};
    }

    /** Ascending in Double.compare's order (-0.0 before 0.0, NaN last); descending reverses all but the NaNs. */
    public static double[] sort(double[] x, boolean descending) {
        double[] sorted = x.clone();
        Arrays.sort(sorted);
        if (descending) {
            int numbers = (int) Arrays.stream(sorted).filter(v -> !Double.isNaN(v)).count();
            for (int i = 0, j = numbers - 1; i < j; i++, j--) {
                double t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
        }
        return sorted;
    }

    public static long[] sort(long[] x, boolean descending) {
        long[] sorted = x.clone();
        Arrays.sort(sorted);
        if (descending) {
            for (int i = 0, j = sorted.length - 1; i < j; i++, j--) {
                long t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
        }
        return sorted;
    }
}
