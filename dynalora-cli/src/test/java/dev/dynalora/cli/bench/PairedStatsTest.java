package dev.dynalora.cli.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The paired statistics against hand computations and tabulated values. */
class PairedStatsTest {

    @Test
    void signTestIsExactAndTwoSided() {
        // 10 pairs, all won: P(10 or 0 wins of 10) = 2 / 2^10.
        assertEquals(2.0 / 1024, PairedStats.signTestP(10, 0), 1e-15);
        assertEquals(2.0 / 1024, PairedStats.signTestP(0, 10), 1e-15, "symmetric");
        // 8 wins, 2 losses: 2 * (C(10,0) + C(10,1) + C(10,2)) / 1024 = 2 * 56 / 1024.
        assertEquals(112.0 / 1024, PairedStats.signTestP(8, 2), 1e-15);
        // 4 wins, 1 loss: 2 * (1 + 5) / 32.
        assertEquals(12.0 / 32, PairedStats.signTestP(4, 1), 1e-15);
        // 3 losses of 3: 2 / 8.
        assertEquals(0.25, PairedStats.signTestP(0, 3), 1e-15);
        assertEquals(1.0, PairedStats.signTestP(5, 5), 0, "an even split is capped at 1");
        assertEquals(1.0, PairedStats.signTestP(0, 0), 0, "no pair that differs");
        // 15 pairs, 14 to 1: 2 * 16 / 32768; large n stays exact: 60 of 60 is 2^-59.
        assertEquals(32.0 / 32768, PairedStats.signTestP(14, 1), 1e-15);
        assertEquals(Math.pow(2, -59), PairedStats.signTestP(60, 0), 1e-30);
    }

    @Test
    void tQuantilesMatchTables() {
        // Two-sided 95% critical values of Student's t (any statistics table).
        assertEquals(12.706205, PairedStats.tQuantile(0.975, 1), 1e-5);
        assertEquals(4.302653, PairedStats.tQuantile(0.975, 2), 1e-5);
        assertEquals(2.776445, PairedStats.tQuantile(0.975, 4), 1e-5);
        assertEquals(2.262157, PairedStats.tQuantile(0.975, 9), 1e-5);
        assertEquals(2.144787, PairedStats.tQuantile(0.975, 14), 1e-5);
        assertEquals(2.042272, PairedStats.tQuantile(0.975, 30), 1e-5);
        assertEquals(1.983972, PairedStats.tQuantile(0.975, 100), 1e-5);
        assertEquals(6.313752, PairedStats.tQuantile(0.95, 1), 1e-5);
        assertThrows(IllegalArgumentException.class, () -> PairedStats.tQuantile(0.975, 0));
    }

    @Test
    void summaryCountsWinsTiesLossesAndIntervals() {
        PairedStats.Summary s = PairedStats.of(new double[]{1, 2, 0, -1, 3});
        assertEquals(5, s.n());
        assertEquals(3, s.wins());
        assertEquals(1, s.ties());
        assertEquals(1, s.losses());
        assertEquals(1.0, s.mean(), 1e-12);
        // Sample std sqrt((0 + 1 + 1 + 4 + 4) / 4) = sqrt(2.5); half width t(0.975, 4) * sd / sqrt(5).
        double half = 2.776445 * Math.sqrt(2.5) / Math.sqrt(5);
        assertEquals(1.0 - half, s.ciLow(), 1e-5);
        assertEquals(1.0 + half, s.ciHigh(), 1e-5);
        assertEquals(PairedStats.signTestP(3, 1), s.signP(), 0, "ties are left out of the sign test");
        assertEquals(0.625, s.signP(), 1e-15);

        PairedStats.Summary one = PairedStats.of(new double[]{0.5});
        assertEquals(Double.NaN, one.ciLow(), "no interval from one pair");
        PairedStats.Summary none = PairedStats.of(new double[0]);
        assertEquals(0, none.n());
        assertEquals(1.0, none.signP(), 0);
    }
}
