package dev.ncs.nativelib;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.nativelib.raw.NcsLibrary;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Every constant the binding mirrors by hand from {@code ncs.h}, checked against the loaded library
 * itself: a change on one side only fails here, not as a misread value in production. Codes are
 * scanned well past the last known one, so a value the library gains without Java gaining it fails
 * too.
 */
class NativeParityTests {

    /** Beyond every code ncs.h defines (status and dtype values are small and only appended). */
    private static final int SCAN = 256;

    private final NativeRuntime runtime = NativeRuntime.load(Optional.empty());

    @Test
    void theLoadedLibraryIsTheVersionTheJarWasBuiltFor() {
        ExpectedLibrary expected = ExpectedLibrary.ofThisJar();
        assertThat(NcsLibrary.ncs_version_number()).isEqualTo(expected.versionNumber());
        assertThat(NcsLibrary.ncs_version_string())
                .isEqualTo(expected.version())
                .isEqualTo(runtime.version());
        assertThat(ExpectedLibrary.versionText(NcsLibrary.ncs_version_number()))
                .isEqualTo(NcsLibrary.ncs_version_string());
    }

    @Test
    void dataTypesHaveTheLibrarysCodesNamesAndSizes() {
        Map<Integer, String> library = new TreeMap<>();
        for (int code = -1; code < SCAN; code++) {
            String name = NcsLibrary.ncs_dtype_name(code);
            if (name != null) {
                library.put(code, name + "/" + NcsLibrary.ncs_dtype_size(code));
            }
        }
        Map<Integer, String> java =
                Arrays.stream(DataType.values())
                        .collect(
                                Collectors.toMap(
                                        DataType::code,
                                        type -> type.name() + "/" + type.elementSize(),
                                        (a, b) -> a,
                                        TreeMap::new));

        assertThat(java)
                .as("DataType: code=name/elementSize, against ncs_dtype_name and ncs_dtype_size")
                .isEqualTo(library);
    }

    @Test
    void statusesHaveTheLibrarysCodesAndMeanings() {
        String unknown = NcsLibrary.ncs_status_str(Integer.MAX_VALUE);
        Map<Integer, String> library = new TreeMap<>();
        for (int code = -1; code < SCAN; code++) {
            String text = NcsLibrary.ncs_status_str(code);
            if (!text.equals(unknown)) {
                library.put(code, text);
            }
        }
        Map<Integer, NativeStatus> java =
                Arrays.stream(NativeStatus.values())
                        .collect(
                                Collectors.toMap(
                                        NativeStatus::code,
                                        status -> status,
                                        (a, b) -> a,
                                        TreeMap::new));

        assertThat(java.keySet())
                .as("NativeStatus codes, against the codes ncs_status_str knows")
                .isEqualTo(library.keySet());
        // The library's text starts with the Java name in words: INVALID_ARGUMENT is "invalid
        // argument",
        // INTERNAL "internal error".
        java.forEach((code, status) ->
                assertThat(library.get(code))
                        .as(status.name())
                        .startsWith(status.name().toLowerCase(Locale.ROOT).replace('_', ' ')));
    }

    @Test
    void statsHaveTheLibrarysNumberOfCounters() {
        long[] room = new long[SCAN];
        assertThat(NativeStats.COUNT)
                .as("NativeStats.COUNT, against the counters ncs_stats_read copies")
                .isEqualTo(NcsLibrary.ncs_stats_read(room, room.length));
        assertThat(NativeStats.class.getRecordComponents()).hasSize(NativeStats.COUNT);
    }

    @Test
    void lockStatsHaveTheLibrarysNumberOfValues() {
        long[] room = new long[SCAN];
        int builtin = runtime.kernels().libraryNames().indexOf("builtin");
        assertThat(NativeKernels.LockStats.COUNT)
                .as("NativeKernels.LockStats.COUNT, against ncs_library_lock_stats")
                .isEqualTo(NcsLibrary.ncs_library_lock_stats(builtin, room, room.length));
    }

    @Test
    void maxRankIsTheLibrarys() {
        assertThat(NativeCall.MAX_RANK)
                .as("NativeCall.MAX_RANK, against ncs_max_rank")
                .isEqualTo(NcsLibrary.ncs_max_rank());
    }
}
