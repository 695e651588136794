"""IP address functions: conversions, subnets, tests, Community ID and IP address encryption."""

from __future__ import annotations

import ipaddress

from conduix.remap.functions._support import from_bytes, library, to_bytes
from conduix.remap.functions.spec import FunctionSpec, Param, function, opt
from conduix.remap.values import ExprError, kinds

__all__ = ["FUNCTIONS", "ip_text"]

FUNCTIONS: list[FunctionSpec] = []

S = kinds("string")
I = kinds("integer")  # noqa: E741
B = kinds("boolean")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(value: str, what: str = "IP address") -> Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ExprError(f"unable to parse {what}: invalid {what} syntax") from None


def ip_text(address: Address) -> str:
    """An address written as Rust writes it (IPv4-mapped IPv6 addresses end in dotted IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


@function(FUNCTIONS, "ip_aton", Param("value", S), returns=I, fallible=True, example='ip_aton!("1.2.3.4") == 16909060')
def ip_aton(value: str) -> int:
    """An IPv4 address as an integer (network byte order)."""
    try:
        return int(ipaddress.IPv4Address(value))
    except ValueError:
        raise ExprError("unable to parse IPv4 address: invalid IPv4 address syntax") from None


@function(FUNCTIONS, "ip_ntoa", Param("value", I), returns=S, fallible=True, example='ip_ntoa!(16909060) == "1.2.3.4"')
def ip_ntoa(value: int) -> str:
    """The IPv4 address of an integer."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise ExprError("cannot convert to bytes: integer does not fit in u32")
    return str(ipaddress.IPv4Address(value))


@function(FUNCTIONS, "ip_ntop", Param("value", S), returns=S, fallible=True,
          example='ip_ntop!(decode_base64!("wKgAAQ==")) == "192.168.0.1"')
def ip_ntop(value: str) -> str:
    """The text form of an address given as 4 or 16 raw bytes."""
    data = to_bytes(value)
    if len(data) not in (4, 16):
        raise ExprError('"value" must be of length 4 or 16 bytes')
    return ip_text(ipaddress.ip_address(data))


@function(FUNCTIONS, "ip_pton", Param("value", S), returns=S, fallible=True,
          example='encode_base64(ip_pton!("192.168.0.1")) == "wKgAAQ=="')
def ip_pton(value: str) -> str:
    """The raw bytes (4 or 16) of an address in text form."""
    return from_bytes(_address(value).packed)


@function(FUNCTIONS, "ip_subnet", Param("value", S), Param("subnet", S), returns=S, fallible=True,
          example='ip_subnet!("192.168.10.32", "255.255.255.0") == "192.168.10.0"')
def ip_subnet(value: str, subnet: str) -> str:
    """The network address of ``value`` under a mask (``255.255.255.0``) or prefix length (``/24``)."""
    address = _address(value)
    bits = address.max_prefixlen
    if subnet.startswith("/"):
        try:
            length = int(subnet[1:])
        except ValueError:
            raise ExprError(f"{subnet} is not a valid subnet") from None
        if length > bits:
            raise ExprError(f"subnet cannot be greater than {bits} for ipv{address.version} addresses")
        mask = ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
    else:
        mask_address = _address(subnet, "mask")
        if mask_address.version != address.version:
            raise ExprError(f"attempting to mask an ipv{address.version} address with an "
                            f"ipv{mask_address.version} mask")
        mask = int(mask_address)
    return ip_text(ipaddress.ip_address(int(address) & mask) if address.version == 4
                   else ipaddress.IPv6Address(int(address) & mask))


@function(FUNCTIONS, "ip_to_ipv6", Param("value", S), returns=S, fallible=True,
          example='ip_to_ipv6!("192.168.10.32") == "::ffff:192.168.10.32"')
def ip_to_ipv6(value: str) -> str:
    """An IPv4 address as an IPv4-mapped IPv6 address (IPv6 addresses as they are)."""
    address = _address(value)
    if address.version == 4:
        return f"::ffff:{address}"
    return ip_text(address)


@function(FUNCTIONS, "ipv6_to_ipv4", Param("value", S), returns=S, fallible=True,
          example='ipv6_to_ipv4!("::ffff:192.168.0.1") == "192.168.0.1"')
def ipv6_to_ipv4(value: str) -> str:
    """The IPv4 address inside an IPv4-mapped or -compatible IPv6 address (IPv4 as it is)."""
    address = _address(value)
    if address.version == 4:
        return str(address)
    number = int(address)
    if number >> 48 == 0 and (number >> 32) & 0xFFFF in (0, 0xFFFF):
        return str(ipaddress.IPv4Address(number & 0xFFFFFFFF))
    raise ExprError(f"IPV6 address {ip_text(address)} is not compatible with IPV4")


@function(FUNCTIONS, "is_ipv4", Param("value", S), returns=B, example='is_ipv4("10.0.102.37") == true')
def is_ipv4(value: str) -> bool:
    """Whether the string is an IPv4 address."""
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


@function(FUNCTIONS, "is_ipv6", Param("value", S), returns=B,
          example='is_ipv6("2001:0db8:85a3:0000:0000:8a2e:0370:7334") == true')
def is_ipv6(value: str) -> bool:
    """Whether the string is an IPv6 address."""
    try:
        ipaddress.IPv6Address(value)
        return True
    except ValueError:
        return False


def _port(value: int | None, what: str) -> int | None:
    if value is not None and not 0 <= value <= 65535:
        raise ExprError(f"{what} port must be between 0 and 65535")
    return value


@function(FUNCTIONS, "community_id", Param("source_ip", S), Param("destination_ip", S), Param("protocol", I),
          opt("source_port", I, None), opt("destination_port", I, None), opt("seed", I, None), returns=S,
          fallible=True,
          example='community_id!(source_ip: "1.2.3.4", destination_ip: "5.6.7.8", source_port: 1122, '
                  'destination_port: 3344, protocol: 6) == "1:wCb3OG7yAFWelaUydu0D+125CLM="')
def community_id(source_ip: str, destination_ip: str, protocol: int, source_port: int | None,
                 destination_port: int | None, seed: int | None) -> str:
    """The Community ID flow hash (version 1) of a network flow."""
    source = _address(source_ip, "source IP address")
    destination = _address(destination_ip, "destination IP address")
    if not 0 <= protocol <= 255:
        raise ExprError("protocol must be between 0 and 255")
    if seed is not None and not 0 <= seed <= 65535:
        raise ExprError("seed must be between 0 and 65535")
    sport = _port(source_port, "source")
    dport = _port(destination_port, "destination")
    communityid = library("communityid", "communityid")
    flow = communityid.FlowTuple(protocol, str(source), str(destination), sport, dport)
    try:
        return str(communityid.CommunityID(seed or 0).calc(flow))
    except communityid.error.Error as exc:
        raise ExprError(str(exc)) from None


def _ipcrypt(ip: str, key: str, mode: str, decrypt: bool) -> str:
    address = _address(ip)
    label = f"IPv{address.version}"
    secret = to_bytes(key)
    if mode == "aes128":
        size, module = 16, "ipcrypt.deterministic"
    elif mode == "pfx":
        size, module = 32, "ipcrypt.pfx"
    else:
        raise ExprError(f"Invalid mode '{mode}'. Must be 'aes128' or 'pfx'")
    if len(secret) != size:
        raise ExprError(f"{mode} mode requires a {size}-byte key for {label}")
    implementation = library(module, "ipcrypt")
    try:
        result = (implementation.decrypt if decrypt else implementation.encrypt)(str(address), secret)
    except ValueError as exc:  # e.g. a pfx key whose two halves are equal
        raise ExprError(f"unable to {'decrypt' if decrypt else 'encrypt'} IP address: {exc}") from None
    return ip_text(ipaddress.ip_address(str(result)))


@function(FUNCTIONS, "encrypt_ip", Param("ip", S), Param("key", S), Param("mode", S), returns=S, fallible=True,
          example='encrypt_ip!("192.168.1.1", "sixteen byte key", "aes128") == '
                  '"72b9:a747:f2e9:72af:76ca:5866:6dcf:c3b0"')
def encrypt_ip(ip: str, key: str, mode: str) -> str:
    """Encrypt an IP address into an IP address: ``aes128`` (ipcrypt-deterministic) or ``pfx`` (prefix-preserving)."""
    return _ipcrypt(ip, key, mode, decrypt=False)


@function(FUNCTIONS, "decrypt_ip", Param("ip", S), Param("key", S), Param("mode", S), returns=S, fallible=True,
          example='decrypt_ip!("72b9:a747:f2e9:72af:76ca:5866:6dcf:c3b0", "sixteen byte key", "aes128") == '
                  '"192.168.1.1"')
def decrypt_ip(ip: str, key: str, mode: str) -> str:
    """Decrypt an address made by ``encrypt_ip`` with the same key and mode."""
    return _ipcrypt(ip, key, mode, decrypt=True)

