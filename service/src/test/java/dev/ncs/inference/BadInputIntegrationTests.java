package dev.ncs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ncs.IntegrationTestSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Malformed requests get a 4xx whose message says what was wrong; the service keeps serving and the
 * shared fixture checks that no native memory stays behind.
 */
class BadInputIntegrationTests extends IntegrationTestSupport {

    private static final String A =
            "{\"name\":\"a\",\"datatype\":\"FP64\",\"shape\":[2,2],\"data\":[1,2,3,4]}";
    private static final String B =
            "{\"name\":\"b\",\"datatype\":\"FP64\",\"shape\":[2,2],\"data\":[1,2,3,4]}";

    @ParameterizedTest(name = "{0}")
    @CsvSource(
            delimiter = '|',
            quoteCharacter = '`',
            textBlock =
                    """
                    malformed JSON | {"inputs": [ | not valid JSON
                    not an object | [1,2,3] | must be a JSON object
                    no inputs | {"id":"x"} | "inputs" array
                    unknown datatype | {"inputs":[{"name":"a","datatype":"FLOAT64","shape":[1,1],"data":[1]}, %B]} | unknown datatype 'FLOAT64'
                    wrong datatype | {"inputs":[{"name":"a","datatype":"INT32","shape":[2,2],"data":[1,2,3,4]}, %B]} | must be FP64 or FP32, not INT32
                    mixed datatypes | {"inputs":[{"name":"a","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]}, %B]} | same datatype
                    too few elements | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,2],"data":[1,2,3]}, %B]} | has 3 data elements but its shape needs 4
                    too many elements | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,2],"data":[1,2,3,4,5,6]}, %B]} | has 6 data elements but its shape needs 4
                    overflowing shape | {"inputs":[{"name":"a","datatype":"FP64","shape":[4611686018427387904,4],"data":[1]}, %B]} | overflows 64 bits
                    negative dimension | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,-2],"data":[1,2,3,4]}, %B]} | dimensions must be >= 0
                    fractional dimension | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,1.5],"data":[1,2,3]}, %B]} | not an integer
                    wrong rank | {"inputs":[{"name":"a","datatype":"FP64","shape":[4],"data":[1,2,3,4]}, %B]} | must have shape [-1, -1]
                    inner dimensions differ | {"inputs":[%A, {"name":"b","datatype":"FP64","shape":[3,2],"data":[1,2,3,4,5,6]}]} | 'b'
                    missing input | {"inputs":[%A]} | needs input 'b'
                    ragged nested data | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,2],"data":[[1,2,3],[4]]}, %B]} | must match the shape
                    half nested data | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,2],"data":[1,2,[3,4]]}, %B]} | mixes flat elements
                    unknown input | {"inputs":[%A, %B, {"name":"z","datatype":"FP64","shape":[1],"data":[1]}]} | has no input 'z'
                    duplicate input | {"inputs":[%A, %A, %B]} | more than once
                    string in numbers | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,2],"data":[1,"two",3,4]}, %B]} | data element 1 is "two"
                    missing data | {"inputs":[{"name":"a","datatype":"FP64","shape":[2,2]}, %B]} | has no "data"
                    unknown output | {"inputs":[%A, %B], "outputs":[{"name":"d"}]} | has no output 'd'
                    unknown parameter | {"parameters":{"alpha":2}, "inputs":[%A, %B]} | has no parameter 'alpha'
                    parameter of wrong kind | {"parameters":{"x":[1]}, "inputs":[%A, %B]} | must be a string, number or boolean
                    """)
    void matmulRejects(String what, String body, String message) throws Exception {
        Reply reply = post("/v2/models/matmul/infer", body.replace("%A", A).replace("%B", B));

        assertThat(reply.status()).as(reply.text()).isEqualTo(400);
        assertThat(reply.error()).as(what).contains(message);
        assertServiceStillServes();
    }

    @Test
    void sortRejectsAParameterThatIsNotABoolean() throws Exception {
        Reply reply =
                post(
                        "/v2/models/sort/infer",
                        "{\"parameters\":{\"descending\":\"sideways\"},"
                                + "\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],\"data\":[2,1]}]}");

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("descending");
    }

    @Test
    void integersOutOfRangeAreRejected() throws Exception {
        Reply reply =
                post(
                        "/v2/models/sort/infer",
                        "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"INT32\",\"shape\":[2],\"data\":[1,4294967296]}]}");

        assertThat(reply.status()).isEqualTo(400);
        assertThat(reply.error()).contains("data element 1 is 4294967296").contains("INT32");
    }

    @Test
    void unknownKernelIs404() throws Exception {
        Reply reply = post("/v2/models/fourier/infer", "{\"inputs\":[]}");

        assertThat(reply.status()).isEqualTo(404);
        assertThat(reply.error()).contains("unknown kernel 'fourier'").contains("matmul");
    }

    @Test
    void unknownVersionIs404() throws Exception {
        Reply reply =
                post("/v2/models/matmul/versions/7/infer", "{\"inputs\":[" + A + "," + B + "]}");

        assertThat(reply.status()).isEqualTo(404);
        assertThat(reply.error()).contains("no version '7'");
    }

    @Test
    void wrongMethodAndUnknownPathAnswerWithJsonErrors() throws Exception {
        assertThat(get("/v2/models/matmul/infer").status()).isEqualTo(405);
        Reply missing = get("/v2/nothing/here");
        assertThat(missing.status()).isEqualTo(404);
        assertThat(missing.error()).isNotBlank();
    }

    private void assertServiceStillServes() throws Exception {
        Reply ok = post("/v2/models/matmul/infer", "{\"inputs\":[" + A + "," + B + "]}");
        assertThat(ok.status()).as(ok.text()).isEqualTo(200);
    }
}
