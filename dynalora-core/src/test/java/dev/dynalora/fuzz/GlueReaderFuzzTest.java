package dev.dynalora.fuzz;

import org.junit.jupiter.api.Tag;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dynalora.data.Example;
import dev.dynalora.data.GlueReader;
import dev.dynalora.data.GlueTask;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.dynalora.fuzz.FuzzSupport.allowUserError;

/**
 * Hostile GLUE TSV files through {@link GlueReader#readFile}. The first input byte picks the task and split
 * (and a row limit), the rest is the file. On success every example must be well formed: a non-blank first
 * sentence, a second one exactly for pair tasks, a label of the task (or a finite STS-B score in [0, 5]) for
 * labelled splits, and no more examples than the file has lines.
 */
@Tag("slow")
class GlueReaderFuzzTest {
    /** Task and split pairs covering every layout kind: header or not, single or pair, class or score, test. */
    static final List<Object[]> CASES = List.of(
            new Object[] {GlueTask.COLA, "train"}, new Object[] {GlueTask.SST2, "dev"},
            new Object[] {GlueTask.MRPC, "train"}, new Object[] {GlueTask.STSB, "dev"},
            new Object[] {GlueTask.QNLI, "test"}, new Object[] {GlueTask.MNLI, "dev_matched"},
            new Object[] {GlueTask.RTE, "train"}, new Object[] {GlueTask.SST2, "test"});

    @FuzzTest(maxDuration = "20s")
    void readFile(byte[] data) {
        int sel = data.length == 0 ? 0 : data[0] & 0xff;
        GlueTask task = (GlueTask) CASES.get(sel % CASES.size())[0];
        String split = (String) CASES.get(sel % CASES.size())[1];
        int limit = (sel / CASES.size()) % 4; // 0 reads all
        byte[] tsv = data.length == 0 ? data : Arrays.copyOfRange(data, 1, data.length);
        Path file = FuzzSupport.write("fuzz.tsv", tsv);
        allowUserError(() -> {
            List<Example> examples = GlueReader.readFile(file, task, split, limit);
            long lines = 1;
            for (byte b : tsv) {
                lines += b == '\n' || b == '\r' ? 1 : 0;
            }
            if (examples.isEmpty() || examples.size() > lines || (limit > 0 && examples.size() > limit)) {
                throw new AssertionError(examples.size() + " examples from " + lines + " lines, limit " + limit);
            }
            boolean labelled = task.layout(split).labelled();
            for (Example e : examples) {
                if (e.textA() == null || e.textA().isBlank()) {
                    throw new AssertionError("blank first sentence: " + e);
                }
                if ((task.layout(split).textB() >= 0) != (e.textB() != null)) {
                    throw new AssertionError("second sentence does not match the layout: " + e);
                }
                if (labelled && task.isRegression() && !(e.target() >= 0f && e.target() <= 5f)) {
                    throw new AssertionError("STS-B score outside [0, 5]: " + e);
                }
                if (labelled && !task.isRegression() && (e.label() < 0 || e.label() >= task.numLabels())) {
                    throw new AssertionError("label outside the task's classes: " + e);
                }
            }
        });
    }
}
