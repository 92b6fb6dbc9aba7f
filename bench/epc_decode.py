"""Benchmark: SGTIN-96 decoding, silentgw against epcpy, on the same generated hex strings.

Generates N distinct valid SGTIN-96 EPCs (seeded): random partitions, filters, company prefixes, item references
and serials (the filter drawn per product, as packaging levels are). A store holds few products and many items of
each, so the EPCs are drawn from a catalogue of
`--products` random products (random partition, prefix and item reference each); `--products 0` gives every EPC
its own product (the cold path, no reuse at all). Both decoders do the same work per EPC: decode, then touch the
URN, the GTIN, the serial and the key (epcpy: hex_to_tag_encodable, .epc_uri, .gtin(), .gs1_element_string();
epcpy 0.1.8 has no binary_to_epc). epcpy runs on a subset and its rate is extrapolated.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from epcpy.utils.parsers import hex_to_tag_encodable

from silentgw.gateway.identity import decode

# SGTIN partition table (TDS Table 14-16): (company prefix bits, prefix digits, item reference bits, its digits).
_PARTITIONS = [
    (40, 12, 4, 1), (37, 11, 7, 2), (34, 10, 10, 3), (30, 9, 14, 4), (27, 8, 17, 5), (24, 7, 20, 6), (20, 6, 24, 7)
]  # fmt: skip


def generate(count: int, products: int, seed: int) -> list[str]:
    """`count` distinct SGTIN-96 hex strings over `products` random products (0: one product per EPC)."""
    rnd = random.Random(seed)

    def product() -> int:
        # The filter value belongs to the product's packaging level (TDS 10.2: POS item, case, ...), so it is
        # drawn per product: 58 bits of header, filter, partition, prefix and item reference.
        partition = rnd.randrange(7)
        prefix_bits, prefix_digits, item_bits, item_digits = _PARTITIONS[partition]
        prefix = rnd.randrange(10**prefix_digits)
        item = rnd.randrange(10**item_digits)
        gtin_part = (partition << prefix_bits | prefix) << item_bits | item
        return (0x30 << 3 | rnd.randrange(8)) << 47 | gtin_part

    catalogue = [product() for _ in range(products)]
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        top = catalogue[rnd.randrange(products)] if products else product()
        value = top << 38 | rnd.randrange(1 << 38)
        text = f"{value:024X}"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def bench_silentgw(hexes: list[str]) -> float:
    """Decodes per second, touching uri, gtin, serial and key of each result."""
    start = time.perf_counter()
    for text in hexes:
        epc = decode(text)
        _ = epc.uri, epc.gtin, epc.serial, epc.key  # type: ignore[union-attr]
    return len(hexes) / (time.perf_counter() - start)


def bench_epcpy(hexes: list[str]) -> float:
    """epcpy decodes per second doing the equivalent work."""
    start = time.perf_counter()
    for text in hexes:
        tag = hex_to_tag_encodable(text)
        tag.epc_uri, tag.gtin(), tag.gs1_element_string()  # type: ignore[attr-defined]
    return len(hexes) / (time.perf_counter() - start)


def main() -> None:
    """Run both decoders and print the rates; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="number of distinct EPCs (default 1,000,000)")
    parser.add_argument("--epcpy-n", type=int, default=50_000, help="subset decoded by epcpy (default 50,000)")
    parser.add_argument("--products", type=int, default=10_000, help="catalogue size; 0 = every EPC a new product")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    hexes = generate(args.n, args.products, args.seed)
    cold = generate(min(args.n, 200_000), 0, args.seed + 1)
    catalogue = f"{args.products} products" if args.products else "one product per EPC"
    print(f"{len(hexes):,} distinct SGTIN-96 EPCs ({catalogue}), seed {args.seed}")
    ours = bench_silentgw(hexes)
    print(f"silentgw: {ours:,.0f} decodes/s over {len(hexes):,} EPCs")
    ours_cold = bench_silentgw(cold)
    print(f"silentgw, cold (every EPC a new product, no memo reuse): {ours_cold:,.0f} decodes/s over {len(cold):,}")
    subset = hexes[: args.epcpy_n]
    theirs = bench_epcpy(subset)
    print(f"epcpy:    {theirs:,.0f} decodes/s over a subset of {len(subset):,} EPCs (rate extrapolated to the rest)")
    print(f"ratio {ours / theirs:.1f}x (cold path {ours_cold / theirs:.1f}x)")
    print(json.dumps({
        "silentgw_per_s": round(ours), "epcpy_per_s": round(theirs), "ratio": round(ours / theirs, 2),
        "products": args.products, "cold_silentgw_per_s": round(ours_cold), "cold_ratio": round(ours_cold / theirs, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
