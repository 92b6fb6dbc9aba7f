"""EPC identity: decode and encode GS1 EPC binary encodings (GS1 EPC Tag Data Standard 2.x).

Schemes: SGTIN-96, SGTIN-198, SSCC-96, SGLN-96, SGLN-195, GRAI-96, GRAI-170, GIAI-96, GIAI-202 (TDS 1.x, section 14.6)
and the TDS 2.0 "+" schemes SGTIN+, DSGTIN+, SSCC+, SGLN+, GRAI+, GIAI+ (sections 14.5 and 14.6). Items are keyed
by `Epc.key`, the GS1 element string of the identity, never by the URN.

Errors:

```
EpcError (ValueError)
├── MalformedEpc    bad hex, wrong length, URI or element string syntax
└── InvalidEpc      reserved header, partition 7, field out of range, bad character, non-zero reserved bits
```

Pure standard library: this is part of the core, which imports no I/O library.
"""

from __future__ import annotations

from silentgw.gateway.identity.codec import SCHEMES, decode, encode, encode_ais
from silentgw.gateway.identity.encoders import encode_giai, encode_grai, encode_sgln, encode_sgtin, encode_sscc
from silentgw.gateway.identity.epc import Epc, UnsupportedEpc
from silentgw.gateway.identity.errors import EpcError, InvalidEpc, MalformedEpc
from silentgw.gateway.identity.prefixes import CompanyPrefixes

__all__ = [
    "SCHEMES",
    "CompanyPrefixes",
    "Epc",
    "EpcError",
    "InvalidEpc",
    "MalformedEpc",
    "UnsupportedEpc",
    "decode",
    "encode",
    "encode_ais",
    "encode_giai",
    "encode_grai",
    "encode_sgln",
    "encode_sgtin",
    "encode_sscc",
]
