/**
 * Interarrival jitter as RFC 3550 §6.4.1 defines it (and iperf3 reports it): the mean deviation of
 * the difference in transit time between consecutive datagrams, smoothed with gain 1/16:
 *   D(i-1,i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) = transit_i - transit_{i-1}
 *   J += (|D| - J) / 16
 * Sender and receiver clocks need not agree: a constant offset cancels out in D.
 */
export class JitterEstimator {
  #previousTransitMs: number | undefined;
  #jitterMs = 0;

  /** One datagram, in arrival order: when it was sent (sender's clock) and when it arrived. */
  update(sendTimeMs: number, arrivalTimeMs: number): void {
    const transitMs = arrivalTimeMs - sendTimeMs;
    if (this.#previousTransitMs !== undefined) {
      const deviationMs = Math.abs(transitMs - this.#previousTransitMs);
      this.#jitterMs += (deviationMs - this.#jitterMs) / 16;
    }
    this.#previousTransitMs = transitMs;
  }

  get jitterMs(): number {
    return this.#jitterMs;
  }
}
