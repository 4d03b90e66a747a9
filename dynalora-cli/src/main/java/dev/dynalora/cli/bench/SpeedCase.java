package dev.dynalora.cli.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * The five measurements of a bench speed round, in the order they run: each of ours is followed by its PyTorch
 * counterpart, and the Dynamic LoRA step comes right after the LoRA steps, so that the pairs compared are taken
 * within a minute of each other and drift in the machine's load hits both sides alike.
 */
public enum SpeedCase {
    FORWARD_DYNALORA(Step.FORWARD, false),
    FORWARD_PYTORCH(Step.FORWARD, true),
    LORA_DYNALORA(Step.LORA, false),
    LORA_PYTORCH(Step.LORA, true),
    DYNAMIC_DYNALORA(Step.DYNAMIC, false);

    /** What is timed. */
    public enum Step {
        FORWARD("forward"), LORA("lora_step"), DYNAMIC("dynamic_step");

        final String key;

        Step(String key) {
            this.key = key;
        }
    }

    final Step step;
    final boolean reference;

    SpeedCase(Step step, boolean reference) {
        this.step = step;
        this.reference = reference;
    }

    String engine() {
        return reference ? "pytorch" : "dynalora";
    }

    /** A short name for messages, e.g. "dynalora lora_step". */
    String label() {
        return engine() + " " + step.key;
    }

    /** The child's command line: our CLI in a child JVM (see ChildJava) or the reference under --python. */
    List<String> command(SpeedSettings s, String mainClass) {
        List<String> shape = List.of("--model", s.model().toString(), "--batch", Integer.toString(s.batch()),
                "--seq", Integer.toString(s.seq()), "--steps", Integer.toString(s.steps()),
                "--warmup", Integer.toString(s.warmup()), "--threads", Integer.toString(s.threads()));
        List<String> adapter = List.of("--rank", Integer.toString(s.rank()), "--targets", s.targets());
        List<String> a = new ArrayList<>();
        if (reference) {
            a.add(s.python());
            a.add(s.reference().toString());
            a.addAll(shape);
            if (step == Step.LORA) {
                a.addAll(adapter);
            }
            a.addAll(List.of("--mode", step == Step.FORWARD ? "infer" : "train"));
            return a;
        }
        if (step == Step.FORWARD) {
            a.addAll(List.of("bench", "forward"));
            a.addAll(shape);
        } else {
            a.addAll(List.of("bench", "step", "--method", step == Step.LORA ? "lora" : "dynamic"));
            a.addAll(shape);
            a.addAll(adapter);
            a.add("--no-dropout"); // the reference has no dropout
            if (step == Step.DYNAMIC) {
                a.addAll(List.of("--paired-with", "lora")); // the overhead, measured step by step in one process
            }
        }
        a.add("--json");
        return ChildJava.command(mainClass, a);
    }
}
