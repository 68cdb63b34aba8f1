package dev.ncs.kernel;

import java.util.Arrays;

/**
 * Plain Java implementations of the kernels: the independent references the tests compare against.
 */
public final class References {

    private References() {}

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

    /**
     * Ascending in Double.compare's order (-0.0 before 0.0, NaN last); descending reverses all but
     * the NaNs.
     */
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

    /** The DFT by its definition, O(n^2): x and the result are interleaved (re, im) pairs. */
    public static double[] dft(double[] x, boolean inverse) {
        int n = x.length / 2;
        double[] y = new double[x.length];
        double sign = inverse ? 1 : -1;
        for (int k = 0; k < n; k++) {
            double re = 0;
            double im = 0;
            for (int j = 0; j < n; j++) {
                double angle = sign * 2 * Math.PI * ((long) j * k % n) / n;
                double c = Math.cos(angle);
                double s = Math.sin(angle);
                re += x[2 * j] * c - x[2 * j + 1] * s;
                im += x[2 * j] * s + x[2 * j + 1] * c;
            }
            y[2 * k] = inverse ? re / n : re;
            y[2 * k + 1] = inverse ? im / n : im;
        }
        return y;
    }

    /**
     * scipy.signal.convolve2d(image, kernel, mode, boundary) for one [h,w] image, by its
     * definition: out[i][j] = sum over the kernel of image[i - p][j - q] * kernel[p][q] on the full
     * grid, then cropped.
     */
    public static double[] convolve2d(
            double[] image,
            int h,
            int w,
            double[] kernel,
            int kh,
            int kw,
            String mode,
            String boundary) {
        int fh = h + kh - 1;
        int fw = w + kw - 1;
        double[] full = new double[fh * fw];
        for (int i = 0; i < fh; i++) {
            for (int j = 0; j < fw; j++) {
                double sum = 0;
                for (int p = 0; p < kh; p++) {
                    for (int q = 0; q < kw; q++) {
                        sum += pixel(image, h, w, i - p, j - q, boundary) * kernel[p * kw + q];
                    }
                }
                full[i * fw + j] = sum;
            }
        }
        int outH;
        int outW;
        int top;
        int left;
        switch (mode) {
            case "full" -> {
                outH = fh;
                outW = fw;
                top = 0;
                left = 0;
            }
            case "same" -> {
                outH = h;
                outW = w;
                top = (kh - 1) / 2;
                left = (kw - 1) / 2;
            }
            default -> {
                outH = h - kh + 1;
                outW = w - kw + 1;
                top = kh - 1;
                left = kw - 1;
            }
        }
        double[] out = new double[Math.max(0, outH) * Math.max(0, outW)];
        for (int i = 0; i < outH; i++) {
            for (int j = 0; j < outW; j++) {
                out[i * outW + j] = full[(i + top) * fw + (j + left)];
            }
        }
        return out;
    }

    private static double pixel(double[] image, int h, int w, int i, int j, String boundary) {
        if (boundary.equals("symm")) {
            i = reflect(i, h);
            j = reflect(j, w);
        } else if (i < 0 || j < 0 || i >= h || j >= w) {
            return 0;
        }
        return image[i * w + j];
    }

    /** Symmetric reflection with the edge repeated: d c b a | a b c d | d c b a. */
    private static int reflect(int i, int n) {
        int period = 2 * n;
        int r = Math.floorMod(i, period);
        return r < n ? r : period - 1 - r;
    }

    /** numpy.percentile(x, q) with the default 'linear' method; NaN anywhere gives NaN. */
    public static double percentile(double[] x, double q) {
        if (java.util.Arrays.stream(x).anyMatch(Double::isNaN)) {
            return Double.NaN;
        }
        double[] v = x.clone();
        java.util.Arrays.sort(v);
        double h = q / 100 * (v.length - 1);
        int lo = (int) Math.floor(h);
        int hi = Math.min(lo + 1, v.length - 1);
        double t = h - lo;
        double diff = v[hi] - v[lo];
        return t >= 0.5 ? v[hi] - diff * (1 - t) : v[lo] + diff * t;
    }

    /**
     * numpy.histogram(x, bins, range=(lo, hi)) counts: equal bins, the last closed, outside
     * ignored.
     */
    public static long[] histogram(double[] x, int bins, double lo, double hi) {
        long[] counts = new long[bins];
        double[] edges = new double[bins + 1];
        double step = (hi - lo) / bins;
        for (int i = 0; i <= bins; i++) {
            edges[i] = i * step + lo;
        }
        edges[bins] = hi;
        for (double v : x) {
            if (Double.isNaN(v) || v < lo || v > hi) {
                continue;
            }
            int bin = v == hi ? bins - 1 : upperBound(edges, v) - 1;
            counts[Math.max(0, Math.min(bins - 1, bin))]++;
        }
        return counts;
    }

    /** Index of the first edge greater than v (edges sorted). */
    private static int upperBound(double[] edges, double v) {
        int lo = 0;
        int hi = edges.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (edges[mid] <= v) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
