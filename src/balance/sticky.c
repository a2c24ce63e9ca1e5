/* sticky.c — sticky-cookie values: "<8 hex server id>.<base64url 128-bit tag>",
 * the tag an HMAC-SHA256 of the id under the pool secret, so any instance with
 * the same secret agrees and nothing about the server's address leaks. */
#include <errno.h>
#include <string.h>

#include "balance/balance.h"

#define TAG_BYTES 16
#define TAG_CHARS 22 /* base64url of 16 bytes, unpadded */
#define VALUE_LEN (8 + 1 + TAG_CHARS)
_Static_assert(VALUE_LEN == FC__STICKY_LEN, "balance.h's sticky value length");

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char HEX[] = "0123456789abcdef";

static void sticky_tag(const uint8_t *secret, size_t secret_len, uint32_t id,
                       uint8_t tag[TAG_BYTES])
{
	uint8_t msg[21] = "fulcrum-sticky-v1";
	msg[17] = (uint8_t)(id >> 24);
	msg[18] = (uint8_t)(id >> 16);
	msg[19] = (uint8_t)(id >> 8);
	msg[20] = (uint8_t)id;
	uint8_t mac[32];
	fc_hmac_sha256(secret, secret_len, msg, sizeof msg, mac);
	memcpy(tag, mac, TAG_BYTES);
}

static void b64url(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = B64[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = B64[(acc << (6 - bits)) & 63];
	out[o] = 0;
}

int fc_sticky_encode(const uint8_t *secret, size_t secret_len, uint32_t id, char *out,
                     size_t outlen)
{
	if (!out || outlen < VALUE_LEN + 1)
		return -ENOSPC;
	for (int i = 0; i < 8; i++)
		out[i] = HEX[(id >> (28 - 4 * i)) & 15];
	out[8] = '.';
	uint8_t tag[TAG_BYTES];
	sticky_tag(secret, secret_len, id, tag);
	b64url(tag, TAG_BYTES, out + 9);
	return VALUE_LEN;
}

int fc__sticky_id(const char *value, size_t len, uint32_t *id)
{
	if (!value || len != VALUE_LEN || value[8] != '.')
		return -EINVAL;
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		char c = value[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		v = (v << 4) | (uint32_t)d;
	}
	*id = v;
	return 0;
}

int fc_sticky_decode(const uint8_t *secret, size_t secret_len, const char *value, size_t len,
                     uint32_t *id)
{
	uint32_t v;
	if (fc__sticky_id(value, len, &v) < 0)
		return -EINVAL;
	uint8_t tag[TAG_BYTES];
	char want[TAG_CHARS + 1];
	sticky_tag(secret, secret_len, v, tag);
	b64url(tag, TAG_BYTES, want);
	unsigned diff = 0; /* constant time: no early exit on the first wrong byte */
	for (int i = 0; i < TAG_CHARS; i++)
		diff |= (unsigned)(uint8_t)(want[i] ^ value[9 + i]);
	if (diff)
		return -EINVAL;
	*id = v;
	return 0;
}
