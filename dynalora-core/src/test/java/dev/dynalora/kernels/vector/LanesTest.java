package dev.dynalora.kernels.vector;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class LanesTest {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Test
    void sumIsLeftToRightBeforeAndAfterCompilation() {
        // Values whose sum depends on the order of the additions (1e8 swallows small terms unless they
        // are added after it cancels). Repeating the call long enough gets it compiled by C2, whose
        // reduceLanes(ADD) adds in a tree on some JDKs; Lanes.sum must not change.
        Random r = new Random(3);
        float[] a = new float[S.length()];
        for (int rep = 0; rep < 300_000; rep++) {
            for (int i = 0; i < a.length; i++) {
                a[i] = (i % 2 == 0 ? 1e8f : 1f) * (float) r.nextGaussian();
            }
            float expect = 0f;
            for (float v : a) {
                expect += v;
            }
            float got = Lanes.sum(FloatVector.fromArray(S, a, 0));
            if (Float.floatToIntBits(expect) != Float.floatToIntBits(got)) {
                assertEquals(expect, got, 0f, "lane sum at repetition " + rep);
            }
        }
    }
}
