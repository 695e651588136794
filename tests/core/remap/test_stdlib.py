"""The VRL standard-library functions added beside the original set, each stated in our own words.

Every function has at least one case here (``CASES``), and every fallible one an error case
(``ERRORS``); ``test_every_new_function_is_covered`` keeps it so.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from typing import Any

import pytest

from conduix.errors import RemapError
from conduix.remap import compile, function_names
from conduix.remap.functions import function_table
from conduix.remap.functions._crc_catalogue import CATALOGUE
from conduix.remap.functions.compression import MAX_DECODED_BYTES


def value_of(source: str, event: dict[str, Any] | None = None) -> Any:
    return compile(source).evaluate(event if event is not None else {})[0]


CASES: list[tuple[str, Any]] = [
    # case conversion: words split on separators and case changes, or on the named original case only
    ('camelcase("user_id-value")', "userIdValue"),
    ('pascalcase("http request", "snake_case")', "Http request"),
    ('kebabcase("XMLHttpRequest")', "xml-http-request"),
    ('snakecase("userID2Name")', "user_id_2_name"),
    ('snakecase("v2Release", excluded_boundaries: ["lower_digit"])', "v2_release"),
    ('screamingsnakecase("maxRetries")', "MAX_RETRIES"),
    # searching and measuring
    ('strlen("naïve")', 5),
    ('length("naïve")', 6),
    ('find("déjà vu", "vu")', 7),
    ("find(\"abc123\", r'\\d')", 3),
    ('find("abc", "z")', None),
    ('contains_all("GET /api/v1", ["GET", "v1"])', True),
    ('contains_all("get /api", ["GET"], case_sensitive: false)', True),
    ("match_any(\"disk full\", [r'^mem', r'full$'])", True),
    ('chunks("abcde", 2)', ["ab", "cd", "e"]),
    ("sieve(\"a-b--c\", r'[a-z]', replace_single: \"_\", replace_repeated: \"=\")", "a_b=c"),
    ('shannon_entropy("aaaa")', 0.0),
    ('shannon_entropy("ab")', 1.0),
    ('shannon_entropy("éé", segmentation: "codepoint")', 0.0),
    ('shannon_entropy("e\u0301e\u0301", segmentation: "grapheme")', 0.0),
    ('strip_ansi_escape_codes("\\u{1b}[1;31mred\\u{1b}[0m text")', "red text"),
    ("redact(\"card 4111 and 4222\", filters: [r'\\d{4}'])", "card [REDACTED] and [REDACTED]"),
    ('redact({"ssn": "123-45-6789", "n": [1]}, filters: ["us_social_security_number"], '
     'redactor: {"type": "text", "replacement": "x"})', {"ssn": "x", "n": [1]}),
    ('redact("pin 1234", filters: [{"type": "pattern", "patterns": ["1234"]}], '
     'redactor: {"type": "sha2", "variant": "SHA-256", "encoding": "base16"})',
     "pin 03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4"),
    ('format_int!(255, 2)', "11111111"),
    ('format_number(-1234567, grouping_separator: " ")', "-1 234 567"),
    ('format_number(3.14159, 2)', "3.14"),
    ('basename!("/var/log/app.log")', "app.log"),
    ('basename!("/")', None),
    ('dirname!("app.log")', "."),
    ('dirname!("/var/log/")', "/var"),
    ('split_path("a/b/../c")', ["a", "b", "..", "c"]),
    # arrays and objects
    ("pop([])", []),
    ('zip(["a", "b"], [1, 2, 3])', [["a", 1], ["b", 2]]),
    ("zip([[1, 2], [3, 4]])", [[1, 3], [2, 4]]),
    ('object_from_array([["k", "v"], ["only"]])', {"k": "v", "only": None}),
    ('to_entries(["x"])', [{"key": 0, "value": "x"}]),
    ('from_entries([{"name": "a", "value": 1}, {"key": "b"}])', {"a": 1, "b": None}),
    ('tally!(["a", "b", "a"])', {"a": 2, "b": 1}),
    ('tally_value([1, 1.0, "1"], 1)', 2),
    ("match_array([1, \"foo\"], r'foo')", True),
    ("match_array([\"foo\", \"bar\"], r'foo', all: true)", False),
    ('tag_types_externally({"a": [1, true, null]})', {"a": [{"integer": 1}, {"boolean": True}, None]}),
    ('.host = "h"\n.lines = ["a", "b"]\nunnest(.lines)',
     [{"host": "h", "lines": "a"}, {"host": "h", "lines": "b"}]),
    ('x = {"v": [1, 2]}\nunnest(x.v)', [{"v": 1}, {"v": 2}]),
    ("replace_with(\"a1b22\", r'\\d+') -> |m| { to_string(length(m.string)) }", "a1b2"),
    ("replace_with(\"k=v\", r'(?P<key>\\w)=(?P<value>\\w)') -> |m| { m.value + \"=\" + m.key }", "v=k"),
    ("replace_with(\"aaa\", r'a', count: 2) -> |m| { \"b\" }", "bba"),
    # IP addresses
    ('ip_aton!("10.0.0.1")', 167772161),
    ('ip_ntoa!(167772161)', "10.0.0.1"),
    ('ip_ntop!(ip_pton!("::1"))', "::1"),
    ('ip_subnet!("10.1.2.3", "/16")', "10.1.0.0"),
    ('ip_subnet!("2001:db8::1", "ffff:ffff::")', "2001:db8::"),
    ('ip_to_ipv6!("10.0.0.1")', "::ffff:10.0.0.1"),
    ('ipv6_to_ipv4!("::10.0.0.1")', "10.0.0.1"),
    ('is_ipv4("::1")', False),
    ('is_ipv6("::1")', True),
    ('community_id!(source_ip: "5.6.7.8", destination_ip: "1.2.3.4", source_port: 3344, destination_port: 1122, '
     'protocol: 6)', "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    ('decrypt_ip!(encrypt_ip!("10.1.2.3", "0123456789abcdef", "aes128"), "0123456789abcdef", "aes128")', "10.1.2.3"),
    ('k = "0123456789abcdefFEDCBA9876543210"\na = split(encrypt_ip!("10.1.2.3", k, "pfx"), ".")\n'
     'b = split(encrypt_ip!("10.1.200.1", k, "pfx"), ".")\na[0] == b[0] && a[1] == b[1]', True),
    # hashes
    ('sha3("", variant: "SHA3-256")', "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"),
    ('encode_base16(hmac("msg", "key", algorithm: "SHA-512"))',
     "1e4b55b925ccc28ed90d9d18fc2393fcbe164c0d84e67e173cc5aa486b7afc10"
     "6633c66bdc309076f5f8d9fdbbb62456f894f2c23377fbcc12f4ab2940eb6d70"),
    ('crc("123456789", algorithm: "CRC_16_XMODEM")', "12739"),
    ('crc("123456789", algorithm: "crc_8_smbus")', "244"),
    ('xxhash("", "XXH3-128")', str(0x99AA06D3014798D86001C324468D497F)),
    ('seahash("")', -3953938083091587911),
    # encryption, randomness, ids
    ('decrypt!(encrypt!("secret", "AES-128-CBC-ISO7816", key: "k" * 16, iv: "i" * 16), "AES-128-CBC-ISO7816", '
     'key: "k" * 16, iv: "i" * 16)', "secret"),
    ('decrypt!(encrypt!("hi", "XCHACHA20-POLY1305", key: "k" * 32, iv: "n" * 24), "XCHACHA20-POLY1305", '
     'key: "k" * 32, iv: "n" * 24)', "hi"),
    ('decrypt!(encrypt!("hi", "XSALSA20-POLY1305", key: "k" * 32, iv: "n" * 24), "XSALSA20-POLY1305", '
     'key: "k" * 32, iv: "n" * 24)', "hi"),
    ('decrypt!(encrypt!("counter mode", "AES-256-CTR-BE", key: "k" * 32, iv: "i" * 16), "AES-256-CTR-BE", '
     'key: "k" * 32, iv: "i" * 16)', "counter mode"),
    ('length(encrypt!("x", "AES-256-SIV", key: "k" * 64, iv: "i" * 16))', 17),
    ("b = random_bool(); b || !b", True),
    ("length(random_bytes(0))", 0),
    ("i = random_int(-2, -1); i", -2),
    ("f = random_float(1.0, 1.5); f >= 1.0 && f < 1.5", True),
    ("slice!(uuid_v7(t'2024-01-01T00:00:00Z'), 0, 14)", "018cc251-f400-"),
    ('uuid_from_friendly_id!("0")', "00000000-0000-0000-0000-000000000000"),
    # codecs
    ('decode_gzip!(encode_gzip("round trip", compression_level: 9))', "round trip"),
    ('decode_zlib!(encode_zlib(""))', ""),
    ('decode_zstd!(encode_zstd("zz", compression_level: 19))', "zz"),
    ('decode_snappy!(encode_snappy!("snap"))', "snap"),
    ('decode_lz4!(encode_lz4!("lz4 block", false), buf_size: 100)', "lz4 block"),
    ('decode_base16!(encode_base16("é"))', "é"),
    ('encode_percent("a/b c", ascii_set: "PATH")', "a/b%20c"),
    ('decode_percent("%E2%9C%93 100%")', "✓ 100%"),
    ('encode_punycode!("bücher.example")', "xn--bcher-kva.example"),
    ('decode_punycode!("xn--bcher-kva.example")', "bücher.example"),
    ('decode_charset!(encode_charset!("grüß", "iso-8859-15"), "iso-8859-15")', "grüß"),
    ('decode_mime_q!("=?ISO-8859-1?Q?caf=E9?= au lait")', "café au lait"),
    ('encode_csv!(["a;b", 1, true, null], delimiter: ";")', '"a;b";1;true;'),
    # numbers and units from text
    ('parse_int!("0b101")', 5),
    ('parse_int!("017")', 15),
    ('parse_int!("zz", 36)', 1295),
    ('parse_float!("-1.5e-3")', -0.0015),
    ('parse_duration!("1h 30m", unit: "m")', 90.0),
    ('parse_duration!("250ms", unit: "s")', 0.25),
    ('parse_bytes!("1.5 KiB", unit: "B")', 1536.0),
    ('parse_bytes!("2MB", unit: "kB", base: "10")', 2000.0),
    ('to_syslog_facility!(15)', "solaris-cron"),
    ('to_syslog_facility_code!("local7")', 23),
    ('to_syslog_level!(0)', "emerg"),
    ('to_syslog_severity!("warn")', 4),
    ("match(\"abc\", to_regex!(\"^a.c$\"))", True),
    ('haversine(48.8566, 2.3522, 51.5074, -0.1278, measurement_unit: "miles").distance', 213.4761363),
    # structured formats
    ('is_json("[1, 2]", variant: "array")', True),
    ('is_json("{\\"a\\": }")', False),
    ('parse_yaml!("list: [1, two]\\nflag: yes")', {"list": [1, "two"], "flag": True}),
    ('parse_cbor!(decode_base16!("a2616101616282f6f5"))', {"a": 1, "b": [None, True]}),
    ('parse_xml!(s\'<r a="1"><x>true</x><x>2.5</x>tail<y/></r>\')',
     {"r": {"@a": "1", "x": [True, 2.5], "text": "tail", "y": None}}),
    ('parse_xml!("<a>7</a>", parse_number: false, always_use_text_key: true)', {"a": {"text": "7"}}),
    ('parse_ruby_hash!(s\'{:list => [1, "x", nil], "h" => {k: :sym}, "e" => []}\')',
     {"list": [1.0, "x", None], "h": {"k": "sym"}, "e": []}),
    ('parse_etld!("shop.example.co.uk", plus_parts: 1)',
     {"etld": "co.uk", "etld_plus": "example.co.uk", "known_suffix": True}),
    ('parse_etld!("intranet.corp")', {"etld": "corp", "etld_plus": "corp", "known_suffix": False}),
    # the machine running the pipeline
    ('get_env_var!("CONDUIX_TEST_REMAP_VAR")', "from the environment"),
    ("is_string(get_hostname!())", True),
    ("is_string(get_timezone_name!())", True),
    # server, application and cloud logs
    ("parse_apache_log!(s'10.0.0.9 - - [02/Jan/2024:03:04:05 +0100] \"PUT /a%20b HTTP/2\" 201 -', \"common\")",
     {"host": "10.0.0.9", "timestamp": "2024-01-02T02:04:05Z", "message": "PUT /a%20b HTTP/2", "method": "PUT",
      "path": "/a%20b", "protocol": "HTTP/2", "status": 201}),
    ("parse_apache_log!(s'[Tue Jan 02 03:04:05.123456 2024] [core:error] [pid 12:tid 34] [client 10.1.1.1:5050] "
     "AH00037: denied', \"error\", timestamp_format: \"%a %b %d %H:%M:%S%.f %Y\")",
     {"timestamp": "2024-01-02T03:04:05.123456Z", "module": "core", "severity": "error", "pid": 12, "thread": "34",
      "client": "10.1.1.1", "port": 5050, "message": "AH00037: denied"}),
    ("parse_nginx_log!(s'2024/01/02 03:04:05 [warn] 7#7: *9 upstream slow, client: 10.0.0.1, server: web', "
     "\"error\")",
     {"timestamp": "2024-01-02T03:04:05Z", "severity": "warn", "pid": 7, "tid": 7, "cid": 9,
      "message": "upstream slow", "client": "10.0.0.1", "server": "web"}),
    ('parse_klog!("W1231 23:59:59.000001 7 node.go:3] disk pressure").level', "warning"),
    ('parse_glog!("F20240102 03:04:05.000006 1 x.cc:1] boom")',
     {"level": "fatal", "timestamp": "2024-01-02T03:04:05.000006Z", "id": 1, "file": "x.cc", "line": 1,
      "message": "boom"}),
    ("x = parse_linux_authorization!(s'Jan  5 10:00:00 bastion sudo: alice : COMMAND=/bin/ls')\n"
     "[x.hostname, x.appname, x.message]", ["bastion", "sudo", "alice : COMMAND=/bin/ls"]),
    ("parse_cef!(s'<13>Jan 1 host CEF:0|V\\|x|P|1|9|Blocked|3|cs1Label=Rule cs1=r\\=1 msg=two words', "
     "translate_custom_fields: true)",
     {"cefVersion": "0", "deviceVendor": "V|x", "deviceProduct": "P", "deviceVersion": "1",
      "deviceEventClassId": "9", "name": "Blocked", "severity": "3", "Rule": "r=1", "msg": "two words"}),
    ('parse_aws_vpc_flow_log!("eni-1 10.0.0.1 443", format: "interface_id srcaddr srcport")',
     {"interface_id": "eni-1", "srcaddr": "10.0.0.1", "srcport": 443}),
    ('x = parse_aws_alb_log!(s\'https 2024-01-02T03:04:05Z app/lb/1 10.0.0.1:1 10.0.0.2:80 0.1 0.2 0.3 200 200 1 2 '
     '"GET https://a.example:443/p?q HTTP/1.1" "ua" TLS_X TLSv1.2 arn:tg "Root=1" "a.example" "arn:cert" 0 '
     '2024-01-02T03:04:04Z "forward" "-" "-" "10.0.0.2:80" "200" "-" "-" TID_abc\')\n'
     '[x.request_url, x.target_port_list, x.classification, x.traceability_id, x.sent_bytes]',
     ["https://a.example:443/p?q", ["10.0.0.2:80"], None, "TID_abc", 2]),
    ('x = parse_aws_cloudwatch_log_subscription_message!(s\'{"messageType": "DATA_MESSAGE", "owner": "42", '
     '"logGroup": "g", "logStream": "s", "subscriptionFilters": ["f"], "logEvents": [{"id": "1", '
     '"timestamp": 1600000000123, "message": "hi"}]}\')\nx.log_events[0]',
     {"id": "1", "timestamp": "2020-09-13T12:26:40.123Z", "message": "hi"}),
    ('parse_user_agent("curl/8.4.0")', {"browser": {"family": "HTTP Library", "version": "curl"},
                                        "device": {"category": "misc"}, "os": {"family": None, "version": None}}),
    ('ua = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 '
     'Mobile Safari/537.36"\nx = parse_user_agent(ua, mode: "enriched")\n[x.browser.family, x.os.family, '
     'x.device.brand, x.device.category]', ["Chrome Mobile", "Android", "Google", "smartphone"]),
    ('x = parse_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
     'Chrome/120.0.0.0 Safari/537.36", mode: "reliable")\n[x.browser.family, x.os.family]',
     ["Chrome", "Windows 10"]),
    ('parse_grok!("GET /index.html 200", "%{WORD:method} %{URIPATHPARAM:path} %{INT:status}")',
     {"method": "GET", "path": "/index.html", "status": "200"}),
    ('parse_groks!("10.0.0.1 - ok", ["%{IP:client.ip} - %{WORD:client.state}", "%{GREEDYDATA:message}"])',
     {"client": {"ip": "10.0.0.1", "state": "ok"}}),
    ('match_datadog_query({"message": "disk full on /var", "tags": ["env:prod", "team:ops"], "status": "warn", '
     '"latency": 250}, s\'(full OR empty) env:prod -team:web @latency:>=200 status:warn\')', True),
    ('match_datadog_query({"message": "ok", "http": {"code": 503}}, "@http.code:[500 TO 599] AND NOT ok")', False),
    ('match_datadog_query({"host": "web-12"}, "host:web-* _missing_:@user")', True),
    ('m = parse_influxdb!("disk,host=a\\\\ b used=1.5,ro=F\\nmem free=7u 1000000000")\n[m[0].tags.host, '
     'm[1].gauge.value, m[2].name, m[2].timestamp]', ["a b", 0.0, "mem_free", "1970-01-01T00:00:01Z"]),
]


@pytest.mark.parametrize(("source", "expected"), CASES, ids=[c[0][:50] for c in CASES])
def test_case(source: str, expected: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUIX_TEST_REMAP_VAR", "from the environment")
    assert value_of(source) == expected


ERRORS: list[tuple[str, str]] = [
    ('format_int!(1, 40)', "invalid base"),
    ('basename!(.missing)', "expected string, got null"),
    ('dirname!(1)', "expected string"),
    ('tally!(["a", 1])', "all values must be strings"),
    ('ip_aton!("::1")', "unable to parse IPv4 address"),
    ('ip_ntoa!(-1)', "does not fit in u32"),
    ('ip_ntop!("abc")', "must be of length 4 or 16 bytes"),
    ('ip_pton!("300.1.1.1")', "unable to parse IP address"),
    ('ip_subnet!("10.0.0.1", "/33")', "subnet cannot be greater than 32"),
    ('ip_to_ipv6!("nope")', "unable to parse IP address"),
    ('ipv6_to_ipv4!("2001:db8::1")', "is not compatible with IPV4"),
    ('community_id!(source_ip: "1.2.3.4", destination_ip: "5.6.7.8", protocol: 300)', "protocol must be"),
    ('encrypt_ip!("10.0.0.1", "short", "aes128")', "aes128 mode requires a 16-byte key for IPv4"),
    ('decrypt_ip!("10.0.0.1", "0123456789abcdef", "rot13")', "Invalid mode 'rot13'"),
    ('encrypt_ip!("10.0.0.1", "0123456789abcdef0123456789abcdef", "pfx")', "halves of the key must be different"),
    ('encrypt!("x", "AES-128-CFB", key: "short", iv: "i" * 16)', "Invalid key size. Expected 16 bytes"),
    ('encrypt!("x", "DES", key: "k", iv: "i")', "Invalid algorithm: DES"),
    ('decrypt!("not sealed......", "CHACHA20-POLY1305", key: "k" * 32, iv: "n" * 12)', "authentication failed"),
    ('decrypt!("abc", "AES-128-CBC-PKCS7", key: "k" * 16, iv: "i" * 16)', "not a whole number of blocks"),
    ('uuid_from_friendly_id!("not-base62")', "failed to decode friendly id"),
    ('decode_gzip!("not gzip")', "unable to decode value with gzip decoder"),
    ('decode_zlib!("not zlib")', "unable to decode value with zlib decoder"),
    ('decode_zstd!("not zstd")', "unable to decode value with zstd decoder"),
    ('decode_snappy!("\\u{ff}\\u{ff}")', "unable to decode value with snappy decoder"),
    ('decode_lz4!("\\u{1f}garbage", buf_size: 10)', "unable to decode value with lz4 block decoder"),
    ('encode_snappy!(1)', "expected string"),
    ('encode_lz4!(1)', "expected string"),
    ('decode_base16!("xyz")', "unable to decode value from base16"),
    ('encode_punycode!("a..b")', "unable to encode to punycode"),
    ('decode_punycode!("xn--a-ecp.ru")', "unable to decode punycode"),
    ('encode_charset!("€", "koi8-r")', "unable to encode to koi8-r"),
    ('decode_charset!("x", "klingon")', "Unknown charset: klingon"),
    ('decode_mime_q!("plain text")', "no encoded-word found"),
    ('encode_csv!([{"a": 1}])', "unable to encode object as a CSV field"),
    ('parse_int!("12a")', "could not parse integer"),
    ('parse_int!("1", 1)', "must be be between 2 and 36"),
    ('parse_float!("1,5")', "could not parse float"),
    ('parse_duration!("5 parsecs", unit: "s")', "unknown duration unit"),
    ('parse_bytes!("many", unit: "B")', "unable to parse bytes"),
    ('to_syslog_facility!(24)', "facility code 24 not valid"),
    ('to_syslog_facility_code!("kernel")', "syslog facility 'kernel' not valid"),
    ('to_syslog_level!(8)', "severity level 8 not valid"),
    ('to_syslog_severity!("loud")', "syslog level loud not valid"),
    ('to_regex!("(unclosed")', "invalid regular expression"),
    ('parse_yaml!("a: [1")', "unable to parse yaml"),
    ('parse_cbor!("\\u{ff}")', "unable to parse cbor"),
    ('parse_xml!("<a><b></a>")', "unable to parse xml"),
    ('parse_xml!(s\'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>\')', "unable to parse xml"),
    ('parse_ruby_hash!("{:a => }")', "unable to parse ruby hash"),
    ('parse_etld!("")', "unable to determine eTLD"),
    ('validate_json_schema!("{}", "/nonexistent/schema.json")', "unable to read the JSON schema"),
    ('get_env_var!("CONDUIX_TEST_SURELY_UNSET_VARIABLE")', "not found"),
    ('get_hostname!() + get_timezone_name!() + 1', "can't add type integer"),
    ('parse_apache_log!("not a log line", "combined")', "failed parsing combined log line"),
    ('parse_apache_log!("-", "fancy")', "unknown format 'fancy'"),
    ('parse_nginx_log!("nope", "main")', "failed parsing  log line"),
    ('parse_klog!("X0505 17:59:40.692994 1 a.go:1] m")', 'unrecognized log level "X"'),
    ('parse_glog!("hello")', "failed parsing glog message"),
    ('parse_linux_authorization!("")', "unable to parse input as valid Linux authorization log"),
    ('parse_cef!("no marker here")', "the CEF: marker is missing"),
    ('parse_cef!("CEF:0|V|P|1|9|N|3|cs1=x", translate_custom_fields: true)', "missing label or value"),
    ('parse_aws_alb_log!("http 2024")', "expected at least"),
    ('parse_aws_vpc_flow_log!("1 2", format: "version")', "no key for value: `2`"),
    ('parse_aws_vpc_flow_log!("x", format: "color")', "unknown key: `color`"),
    ('parse_aws_cloudwatch_log_subscription_message!("{}")', "expected exactly the fields"),
    ('parse_user_agent("x", mode: "slow")', "unknown mode 'slow'"),
    ('parse_grok!("abc", "%{INT:n}")', "unable to parse input with grok pattern"),
    ('parse_grok!("abc", "%{NOT_A_PATTERN:n}")', "could not be found in the definition map"),
    ('parse_groks!("abc", ["%{INT:n}"], alias_sources: ["/nonexistent/aliases.json"])',
     "unable to read grok aliases"),
    ('parse_influxdb!("cpu value=\\"text\\"")', "field set values of type string are not supported"),
    ('parse_influxdb!("cpu")', "InfluxDB line protocol parsing error"),
    ('match_datadog_query({"a": 1}, "@a%:1")', 'invalid argument "query": failed to build matcher'),
    ('match_datadog_query({}, "(unclosed")', "invalid Datadog query"),
]


@pytest.mark.parametrize(("source", "message"), ERRORS, ids=[e[0][:50] for e in ERRORS])
def test_error(source: str, message: str) -> None:
    with pytest.raises(RemapError, match=re.escape(message)):
        value_of(source)


# need a file: test_validate_json_schema_reads_..., test_protobuf_messages_round_trip_...
COVERED_ELSEWHERE = {"validate_json_schema", "parse_proto", "encode_proto"}

NEW_MODULES = ("text", "structures", "network", "hashing", "crypto", "compression", "encodings", "conversions",
               "formats", "system", "weblogs", "cloudlogs", "useragent", "grok", "influx", "protobuf", "datadog")


def test_every_new_function_is_covered() -> None:
    import importlib

    new = {spec.name for module in NEW_MODULES
           for spec in importlib.import_module(f"conduix.remap.functions.{module}").FUNCTIONS}
    called = {m for source, _ in CASES for m in re.findall(r"\b([a-z_0-9]+)!?\(", source)}
    called |= COVERED_ELSEWHERE
    failing = {m for source, _ in ERRORS for m in re.findall(r"\b([a-z_0-9]+)!?\(", source)}
    failing |= COVERED_ELSEWHERE  # their tests check their errors too
    assert sorted(new - called) == []
    fallible = {name for name in new if function_table()[name].fallible}
    assert sorted(fallible - failing) == []


def test_every_crc_algorithm_gives_its_catalogue_check_value() -> None:
    for name, (width, *_rest, check) in CATALOGUE.items():
        if width <= 64:
            assert value_of(f'crc("123456789", algorithm: "{name}")') == str(check), name


def test_binary_strings_round_trip_and_print_as_replacement_characters() -> None:
    raw = bytes(range(256))
    encoded = base64.b64encode(raw).decode()
    assert value_of(f'encode_base64(decode_base64!("{encoded}"))') == encoded
    assert value_of('decode_base64!("/w==")') == "\ufffd"  # printed lossily, as VRL prints bytes
    assert value_of('encode_json(decode_base64!("/w=="))') == '"\ufffd"'


def test_decoders_refuse_decompression_bombs() -> None:
    import gzip
    import io

    import zstandard

    bomb = gzip.compress(bytes(MAX_DECODED_BYTES + 1), 9)
    program = compile("decode_gzip!(decode_base64!(.data))")
    with pytest.raises(RemapError, match="larger than"):
        program.run({"data": base64.b64encode(bomb).decode()})
    out = io.BytesIO()
    with zstandard.ZstdCompressor(write_content_size=False).stream_writer(out, closefd=False) as writer:
        writer.write(bytes(MAX_DECODED_BYTES + 1))
    with pytest.raises(RemapError, match="larger than"):
        compile("decode_zstd!(decode_base64!(.data))").run({"data": base64.b64encode(out.getvalue()).decode()})


def test_conditionally_fallible_functions_compile_without_bang_and_fail_at_run_time() -> None:
    # VRL checks crc's algorithm, random_int's range... when they are literals; here they are checked per call
    with pytest.raises(RemapError, match="Invalid CRC algorithm: NOPE"):
        value_of('crc("x", algorithm: "nope")')
    with pytest.raises(RemapError, match="max must be greater than min"):
        value_of("random_int(5, 5)")


def test_closure_match_object_paths_are_checked_at_run_time() -> None:
    # m.string is known to VRL to be a string; here it is checked when the closure runs
    assert value_of("replace_with(\"ab\", r'b') -> |m| { upcase(m.string) }") == "aB"
    with pytest.raises(RemapError, match='Capture group cannot be named "string"'):
        value_of("replace_with(\"ab\", r'(?P<string>b)') -> |m| { m.string }")


def test_library_backed_functions_are_imported_on_first_use() -> None:
    # (not ``regex``: lark imports it when installed, as its own optional speed-up)
    libraries = ["anycrc", "xxhash", "seahash", "communityid", "ipcrypt", "Crypto", "nacl", "zstandard", "lz4",
                 "cramjam", "idna", "defusedxml", "cbor2", "jsonschema", "publicsuffixlist", "tzlocal", "pygrok",
                 "woothee", "ua_parser", "google.protobuf"]
    script = (
        "import sys\n"
        "from conduix.remap import compile\n"
        "compile('.a = crc(.x) ?? \"\"\\n.b = decode_zstd(.y) ?? \"\"\\n.c = parse_xml(.z) ?? {}\\n'\n"
        "        '.d = parse_user_agent(.u) ?? {}\\n.e = parse_grok(.g, \"%{INT:n}\") ?? {}').evaluate({})\n"
        f"loaded = [m for m in {libraries!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported by compiling: {out}"
    script_used = script.replace("evaluate({})", "evaluate({'x': 'a', 'y': 'b'})")
    used = subprocess.run([sys.executable, "-c", script_used], capture_output=True, text=True,
                          check=True).stdout.strip().split(",")
    assert "anycrc" in used and "zstandard" in used and "cramjam" not in used


def test_function_names_include_the_new_ones() -> None:
    assert {"parse_json", "crc", "encode_zstd", "replace_with", "community_id"} <= set(function_names())


def test_validate_json_schema_reads_the_schema_file_when_first_called(tmp_path: Any) -> None:
    schema = tmp_path / "schema.json"
    program = compile(f'validate_json_schema!(.doc, "{schema}")')  # compiling reads nothing
    schema.write_text('{"type": "object", "properties": {"mail": {"type": "string", "format": "email"}},'
                      ' "required": ["mail"]}')
    assert program.evaluate({"doc": '{"mail": "a@example.com"}'})[0] is True
    with pytest.raises(RemapError, match="JSON schema validation failed: 'x' is not a 'email' at /mail"):
        program.run({"doc": '{"mail": "x"}'})
    custom = tmp_path / "custom.json"
    custom.write_text('{"properties": {"id": {"type": "string", "format": "my-format"}}}')
    with pytest.raises(RemapError, match="Unknown format: 'my-format'"):
        value_of(f'validate_json_schema!("{{}}", "{custom}")')
    assert value_of(f'validate_json_schema!("{{\\"id\\": \\"x\\"}}", "{custom}", true)') is True


def test_environment_functions_run_only_when_records_are_processed(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import socket

    reads: list[str] = []
    monkeypatch.setattr(socket, "gethostname", lambda: reads.append("host") or "worker-7")
    real_get = os.environ.get
    monkeypatch.setattr(os.environ, "get", lambda key, default=None: reads.append(key) or real_get(key, default))
    program = compile('.host = get_hostname!()\n.home = get_env_var("CONDUIX_TEST_REMAP_HOME") ?? "unset"')
    assert reads == []  # compiling (what validation does) asks nothing of the machine
    monkeypatch.setenv("CONDUIX_TEST_REMAP_HOME", "/srv")
    reads.clear()
    assert program.run({}) == {"host": "worker-7", "home": "/srv"}
    assert [r for r in reads if r in ("host", "CONDUIX_TEST_REMAP_HOME")] == ["host", "CONDUIX_TEST_REMAP_HOME"]


def test_binary_data_assigned_to_a_field_reaches_a_sink_as_printable_text(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from conduix.cli import cli

    out = tmp_path / "out.jsonl"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"""
sources:
  in: {{type: stdin}}
transforms:
  r:
    type: remap
    inputs: [in]
    source: |
      . = parse_json!(.message)
      .raw = decode_base64!(.b64)
      .text = decode_gzip!(decode_base64!(.gz))
sinks:
  out: {{type: file, inputs: [r], path: "{out}"}}
""")
    gz = base64.b64encode(__import__("gzip").compress("héllo".encode())).decode()
    result = CliRunner().invoke(cli, ["run", str(pipeline)], input=f'{{"b64": "/2E=", "gz": "{gz}"}}\n')
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(out.read_text()) == {"b64": "/2E=", "gz": gz, "raw": "\ufffda", "text": "héllo"}


def _descriptor_set(path: Any) -> None:
    """A descriptor set for ``demo.Order {id: int64, tags: repeated string, state: State, blob: bytes,
    attrs: map<string, int32>, line: Line {sku: string}}`` as protoc would write it."""
    from google.protobuf import descriptor_pb2

    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="demo.proto", package="demo", syntax="proto3")
    state = proto.enum_type.add(name="State")
    state.value.add(name="NEW", number=0)
    state.value.add(name="PAID", number=1)
    line = proto.message_type.add(name="Line")
    line.field.add(name="sku", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    order = proto.message_type.add(name="Order")
    entry = order.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    order.field.add(name="id", number=1, type=f.TYPE_INT64, label=f.LABEL_OPTIONAL)
    order.field.add(name="tags", number=2, type=f.TYPE_STRING, label=f.LABEL_REPEATED)
    order.field.add(name="state", number=3, type=f.TYPE_ENUM, type_name=".demo.State", label=f.LABEL_OPTIONAL)
    order.field.add(name="blob", number=4, type=f.TYPE_BYTES, label=f.LABEL_OPTIONAL)
    order.field.add(name="attrs", number=5, type=f.TYPE_MESSAGE, type_name=".demo.Order.AttrsEntry",
                    label=f.LABEL_REPEATED)
    order.field.add(name="line", number=6, type=f.TYPE_MESSAGE, type_name=".demo.Line", label=f.LABEL_OPTIONAL)
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=[proto]).SerializeToString())


def test_protobuf_messages_round_trip_through_a_descriptor_file(tmp_path: Any) -> None:
    desc = tmp_path / "demo.desc"
    program = compile(f'encode_proto!(.order, "{desc}", "demo.Order")')  # compiling reads nothing
    _descriptor_set(desc)
    order = {"id": 9007199254740993, "tags": ["a", "b"], "state": "PAID", "blob": "\u00ff", "attrs": {"n": 2},
             "line": {"sku": "X-1"}}
    encoded = program.evaluate({"order": order})[0]
    back = compile(f'parse_proto!(encode_proto!(.order, "{desc}", "demo.Order"), "{desc}", "demo.Order")')
    assert back.evaluate({"order": order})[0] == order
    assert isinstance(encoded, str)
    # strings coerce from numbers unless told not to; unknown fields and types are errors
    assert value_of(f'parse_proto!(encode_proto!({{"line": {{"sku": 7}}}}, "{desc}", "demo.Order"), "{desc}", '
                    f'"demo.Order")') == {"line": {"sku": "7"}}
    for source, message in [
        (f'encode_proto!({{"line": {{"sku": 7}}}}, "{desc}", "demo.Order", allow_lossy_string_coercion: false)',
         "Cannot encode integer into the protobuf field 'sku'"),
        (f'encode_proto!({{"nope": 1}}, "{desc}", "demo.Order")', "Field 'nope' is not in the message demo.Order"),
        (f'parse_proto!("\\u{{ff}}\\u{{ff}}", "{desc}", "demo.Order")', "Error parsing protobuf"),
        (f'parse_proto!("", "{desc}", "demo.Missing")', "message type 'demo.Missing' is not in the descriptor"),
        ('parse_proto!("", "/nonexistent.desc", "demo.Order")', "unable to read the descriptor file"),
    ]:
        with pytest.raises(RemapError, match=re.escape(message)):
            value_of(source)
