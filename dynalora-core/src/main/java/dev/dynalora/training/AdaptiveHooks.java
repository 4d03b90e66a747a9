package dev.dynalora.training;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dynalora.adapters.AdaLoraAdapter;
import dev.dynalora.adapters.AdaLoraAllocator;
import dev.dynalora.adapters.AllocatorState;
import dev.dynalora.adapters.DynamicLoraAllocator;
import dev.dynalora.adapters.DynamicLoraConfig;
import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.LoraAdapter;
import dev.dynalora.adapters.RankAllocator;
import dev.dynalora.models.LinearModule;
import dev.dynalora.models.AdaptableModel;

import java.util.ArrayList;
import java.util.List;

/** Builds the per-step hooks of AdaLoRA and Dynamic LoRA from a model whose adapters are attached. */
public final class AdaptiveHooks {
    private AdaptiveHooks() {
    }

    public static StepHooks create(Method method, AdaptableModel model, int rank, AdaptiveOptions o, long totalSteps) {
        if (method == Method.DYNAMIC) {
            List<LoraAdapter> loras = adapters(model, LoraAdapter.class);
            DynamicLoraAllocator alloc = new DynamicLoraAllocator(dynamicConfig(rank, o, totalSteps), loras);
            return new DynamicHooks(alloc, o.gate() && o.gateCentre() ? loras : List.of());
        }
        if (method == Method.ADALORA) {
            AdaLoraAllocator.Config d = AdaLoraAllocator.Config.defaults(totalSteps);
            long tinit = o.tInit() >= 0 ? o.tInit() : totalSteps / 10;
            long tfinal = o.tFinal() >= 0 ? o.tFinal() : totalSteps / 5;
            long deltaT = o.deltaT() >= 1 ? o.deltaT() : Math.max(1, (totalSteps - tinit - tfinal) / 20);
            AdaLoraAllocator.Config c = new AdaLoraAllocator.Config(o.initR(), o.targetR(), tinit, tfinal, deltaT,
                    d.beta1(), d.beta2(), o.orthRegWeight(), totalSteps);
            return new AdaLoraHooks(new AdaLoraAllocator(c, adapters(model, AdaLoraAdapter.class)));
        }
        return StepHooks.NONE;
    }

    /** The run's Dynamic LoRA configuration: budget of the run's rank per module inside [rMin, rMax]. */
    public static DynamicLoraConfig dynamicConfig(int rank, AdaptiveOptions o, long totalSteps) {
        DynamicLoraConfig c = DynamicLoraConfig.defaults(o.rMax(), totalSteps);
        if (o.tInit() >= 0 || o.tFinal() >= 0 || o.deltaT() >= 1) {
            c = c.withSchedule(o.tInit() >= 0 ? o.tInit() : c.tInit(), o.tFinal() >= 0 ? o.tFinal() : c.tFinal(),
                    o.deltaT() >= 1 ? o.deltaT() : c.deltaT(), totalSteps);
        }
        boolean window = totalSteps - c.tFinal() > c.tInit();
        c = c.withRanks(o.rMin(), Math.min(rank, o.rMax()), Math.min(rank, o.rMax())).withTau(o.tau())
                .withMaxRankStep(o.maxRankStep()).withParameterBudget(o.parameterBudget())
                .withSwitches(o.importance(), o.reallocation() && o.importance() && window, o.gate());
        return c;
    }

    static <T extends LinearAdapter> List<T> adapters(AdaptableModel model, Class<T> type) {
        List<T> out = new ArrayList<>();
        for (LinearModule m : model.linearModules()) {
            if (type.isInstance(m.adapter())) {
                out.add(type.cast(m.adapter()));
            }
        }
        return out;
    }

    /** The hooks every rank-moving method shares: its allocation record and its checkpointed state. */
    public abstract static class AllocatorHooks<A extends RankAllocator> implements StepHooks {
        protected final A alloc;

        AllocatorHooks(A alloc) {
            this.alloc = alloc;
        }

        public A allocator() {
            return alloc;
        }

        @Override
        public ObjectNode record(long step) {
            return alloc.allocationRecord(step);
        }

        @Override
        public void saveState(AllocatorState state) {
            alloc.saveState(state);
        }

        @Override
        public void restoreState(AllocatorState state) {
            alloc.restoreState(state);
        }
    }

    /** Dynamic LoRA's order: importance from clipped gradients, masked values kept, then reallocation. */
    public static final class DynamicHooks extends AllocatorHooks<DynamicLoraAllocator> {
        private static final String CENTRE_KEY = "gate_centre/";
        private final List<LoraAdapter> centred; // adapters whose gates are centred (--gate-centre); empty: none

        DynamicHooks(DynamicLoraAllocator alloc, List<LoraAdapter> centred) {
            super(alloc);
            this.centred = centred.stream().filter(LoraAdapter::gated).toList();
        }

        /**
         * Centred gates: each gate's centre is the mean input its gate reads over the first batch, measured with
         * the adapters as initialised (B = 0, so each module sees the frozen model's features) and then fixed
         * for the run (docs/dynamic-lora.md, "Centred gate").
         */
        @Override
        public void beforeFirstStep(Runnable firstBatchPass) {
            if (centred.isEmpty()) {
                return;
            }
            centred.forEach(LoraAdapter::startGateCentreCalibration);
            firstBatchPass.run();
            centred.forEach(LoraAdapter::finishGateCentreCalibration);
        }

        @Override
        public void saveState(AllocatorState state) {
            super.saveState(state);
            for (LoraAdapter a : centred) {
                if (a.gateCentre() != null) {
                    state.putFloats(CENTRE_KEY + a.name(), a.gateCentre().clone());
                }
            }
        }

        @Override
        public void restoreState(AllocatorState state) {
            super.restoreState(state);
            for (LoraAdapter a : centred) {
                String key = CENTRE_KEY + a.name();
                a.setGateCentre(state.arrays().containsKey(key) ? state.floats(key, a.in()) : null);
            }
        }

        @Override
        public void beforeOptimizer(long step) {
            alloc.observe(step);
            alloc.beforeOptimizerStep();
        }

        @Override
        public void afterOptimizer(long step) {
            alloc.afterOptimizerStep();
            alloc.maybeReallocate(step);
        }
    }

    /** AdaLoRA in PEFT's order: orthogonal regulariser before clipping, update_and_allocate after the step. */
    public static final class AdaLoraHooks extends AllocatorHooks<AdaLoraAllocator> {

        AdaLoraHooks(AdaLoraAllocator alloc) {
            super(alloc);
        }

        @Override
        public double regularize(long step) {
            return alloc.addOrthogonalRegularization();
        }

        @Override
        public void afterOptimizer(long step) {
            alloc.updateAndAllocate(step);
        }
    }
}
