"""The functions of VRL's standard library and of Vector's own VRL functions, and which ones remap leaves out.

Names from https://github.com/vectordotdev/vrl (``src/stdlib``) and Vector's VRL functions; the table of
docs/remap.md is generated from this list and the function table (see :func:`vrl_status`).
"""

from __future__ import annotations

__all__ = ["LEFT_OUT", "NOTES", "VECTOR_FUNCTIONS", "VRL_FUNCTIONS"]

VRL_FUNCTIONS: tuple[str, ...] = tuple("""
    abs append array assert assert_eq basename bool camelcase ceil chunks community_id compact contains
    contains_all crc decode_base16 decode_base64 decode_charset decode_gzip decode_lz4 decode_mime_q
    decode_percent decode_punycode decode_snappy decode_zlib decode_zstd decrypt decrypt_ip del dirname
    dns_lookup downcase encode_base16 encode_base64 encode_charset encode_csv encode_gzip encode_json
    encode_key_value encode_logfmt encode_lz4 encode_percent encode_proto encode_punycode encode_snappy
    encode_zlib encode_zstd encrypt encrypt_ip ends_with exists filter find flatten float floor for_each
    format_int format_number format_timestamp from_entries from_unix_timestamp get get_env_var get_hostname
    get_timezone_name haversine hmac http_request includes int ip_aton ip_cidr_contains ip_ntoa ip_ntop ip_pton
    ip_subnet ip_to_ipv6 ipv6_to_ipv4 is_array is_boolean is_empty is_float is_integer is_ipv4 is_ipv6 is_json
    is_null is_nullish is_object is_regex is_string is_timestamp join kebabcase keys length log map_keys
    map_values match match_any match_array match_datadog_query md5 merge mod now object object_from_array
    parse_apache_log parse_aws_alb_log parse_aws_cloudwatch_log_subscription_message parse_aws_vpc_flow_log
    parse_bytes parse_cbor parse_cef parse_common_log parse_csv parse_duration parse_etld parse_float parse_glog
    parse_grok parse_groks parse_influxdb parse_int parse_json parse_key_value parse_klog
    parse_linux_authorization parse_logfmt parse_nginx_log parse_proto parse_query_string parse_regex
    parse_regex_all parse_ruby_hash parse_syslog parse_timestamp parse_tokens parse_url parse_user_agent
    parse_xml parse_yaml pascalcase pop push random_bool random_bytes random_float random_int redact remove
    replace replace_with reverse_dns round screamingsnakecase seahash set sha1 sha2 sha3 shannon_entropy sieve
    slice snakecase split split_path starts_with string strip_ansi_escape_codes strip_whitespace strlen
    tag_types_externally tally tally_value timestamp to_bool to_entries to_float to_int to_regex to_string
    to_syslog_facility to_syslog_facility_code to_syslog_level to_syslog_severity to_unix_timestamp truncate
    type_def unflatten unique unnest upcase uuid_from_friendly_id uuid_v4 uuid_v7 validate_json_schema values
    xxhash zip
""".split())
"""Every function of VRL's standard library (``src/stdlib``)."""

VECTOR_FUNCTIONS: tuple[str, ...] = (
    "get_secret", "set_secret", "remove_secret", "set_semantic_meaning", "get_enrichment_table_record",
    "find_enrichment_table_records",
)
"""Functions Vector adds to VRL for its own internals (secrets, enrichment tables, field meanings)."""

_SECRETS = "Vector's secret store of the event; Conduix keeps secrets out of records (docs/security.md)"
_ENRICH = "Vector's enrichment tables; the `enrich` stage joins records with a table instead"

LEFT_OUT: dict[str, str] = {
    "dns_lookup": "a blocking DNS query per record from inside a program, towards servers a program names; "
                  "resolve in a stage made for it",
    "reverse_dns": "a blocking DNS query per record from inside a program; resolve in a stage made for it",
    "http_request": "an HTTP request per record to any URL a program names (server-side request forgery); "
                    "use the `http` sink or a stage made for it",
    "type_def": "prints VRL's compile-time type of a value; Conduix's lighter type inference has no such type",
    "get_secret": _SECRETS,
    "set_secret": _SECRETS,
    "remove_secret": _SECRETS,
    "set_semantic_meaning": "annotates fields for Vector's sinks (semantic meaning); no Conduix sink reads it",
    "get_enrichment_table_record": _ENRICH,
    "find_enrichment_table_records": _ENRICH,
}
"""Functions remap does not have on purpose, and why (shown in docs/remap.md)."""

NOTES: dict[str, str] = {
    "length": "counts UTF-8 bytes of a string, as VRL (`strlen` counts characters)",
    "unnest": "returns the array of events; assigning it to `.` is an error (one record stays one record)",
    "parse_grok": "Logstash's pattern library (pygrok); the pattern may be any string, compiled on first use",
    "parse_groks": "standard grok patterns and aliases; not Datadog's matcher and filter syntax "
                   "(`%{data:x:keyvalue}`)",
    "parse_user_agent": "Woothee and uap-core rules as shipped by the Python libraries (results follow their "
                        "versions)",
    "crc": "every algorithm of the catalogue up to 64 bits (not CRC_82_DARC)",
}
"""Where a shipped function differs from VRL's (shown in docs/remap.md)."""
