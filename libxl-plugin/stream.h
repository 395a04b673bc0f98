/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Constants of the streams xrepl carries: xl's save header, the libxl v2
 * stream and the libxc stream inline in it (Xen's docs/specs/
 * libxl-migration-stream and libxc-migration-stream).
 */
#ifndef XREPL_STREAM_H
#define XREPL_STREAM_H

#include <stdint.h>

#define XL_MAGIC "Xen saved domain, xl format\n \0 \r"
#define XL_MAGIC_LEN 32
#define XL_HDR_LEN 48 /* magic, byteorder, mandatory, optional, optlen */
#define XL_BYTEORDER 0x01020304u
#define XL_FLAG_JSON (1u << 0)
#define XL_FLAG_STREAMV2 (1u << 1)
#define XL_OPTDATA_MAX (16u << 20)

#define LIBXL_IDENT "LibxlFmt"
#define LIBXL_HDR_LEN 16
#define LIBXL_STREAM_VERSION 2
#define LIBXL_OPT_BIG_ENDIAN (1u << 0)
#define LIBXL_OPT_LEGACY (1u << 1)

enum libxl_rec {
	LIBXL_REC_END = 0,
	LIBXL_REC_LIBXC_CONTEXT = 1,
	LIBXL_REC_EMULATOR_XENSTORE_DATA = 2,
	LIBXL_REC_EMULATOR_CONTEXT = 3,
	LIBXL_REC_CHECKPOINT_END = 4,
	LIBXL_REC_CHECKPOINT_STATE = 5,
};

#define LIBXC_IHDR_LEN 24
#define LIBXC_DHDR_LEN 16
#define LIBXC_MARKER 0xffffffffffffffffull
#define LIBXC_ID 0x58454e46u /* "XENF" */
#define LIBXC_OPT_BIG_ENDIAN (1u << 0)

enum libxc_rec {
	LIBXC_REC_END = 0x00,
	LIBXC_REC_PAGE_DATA = 0x01,
	LIBXC_REC_X86_PV_INFO = 0x02,
	LIBXC_REC_X86_PV_P2M_FRAMES = 0x03,
	LIBXC_REC_X86_PV_VCPU_BASIC = 0x04,
	LIBXC_REC_X86_PV_VCPU_EXTENDED = 0x05,
	LIBXC_REC_X86_PV_VCPU_XSAVE = 0x06,
	LIBXC_REC_SHARED_INFO = 0x07,
	LIBXC_REC_X86_TSC_INFO = 0x08,
	LIBXC_REC_HVM_CONTEXT = 0x09,
	LIBXC_REC_HVM_PARAMS = 0x0a,
	LIBXC_REC_TOOLSTACK = 0x0b,
	LIBXC_REC_X86_PV_VCPU_MSRS = 0x0c,
	LIBXC_REC_VERIFY = 0x0d,
	LIBXC_REC_CHECKPOINT = 0x0e,
	LIBXC_REC_CHECKPOINT_DIRTY_PFN_LIST = 0x0f,
	LIBXC_REC_STATIC_DATA_END = 0x10,
	LIBXC_REC_X86_CPUID_POLICY = 0x11,
	LIBXC_REC_X86_MSR_POLICY = 0x12,
	LIBXC_REC_MAX = LIBXC_REC_X86_MSR_POLICY,
};
#define LIBXC_REC_OPTIONAL 0x80000000u

#define REC_HDR_LEN 8
#define REC_ALIGN 8
#define REC_LENGTH_MAX (128u << 20)

#define PAGE_SHIFT_X86 12
#define PAGE_SIZE_X86 4096u
#define PAGE_BATCH_MAX 1024u

/* PAGE_DATA pfn words: type in bits 63-60, pfn in 51-0, 59-52 zero. */
#define PFN_TYPE_SHIFT 60
#define PFN_MASK ((1ull << 52) - 1)
#define PFN_RESERVED_MASK (0xffull << 52)
#define PFN_TYPE_BROKEN 0xdu
#define PFN_TYPE_XALLOC 0xeu
#define PFN_TYPE_XTAB 0xfu

static inline int pfn_type_valid(unsigned int type)
{
	return type <= 4 || type >= 9;
}

static inline int pfn_type_has_data(unsigned int type)
{
	return type < PFN_TYPE_BROKEN;
}

const char *libxl_rec_name(uint32_t type);
const char *libxc_rec_name(uint32_t type);

#endif
