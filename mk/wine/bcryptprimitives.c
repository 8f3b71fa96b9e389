/*
 * ProcessPrng for Debian bookworm's Wine 8.0, which has no bcryptprimitives.dll:
 * Go's Windows runtime (1.22 and later) stops at start without it ("fatal error:
 * bcryptprimitives.dll not found"). Windows 10 and later have the real one; this
 * shim exists only in the test's Wine prefix (mk/dist.sh wine-prefix), never in
 * an archive. It fills the buffer from RtlGenRandom (advapi32's SystemFunction036).
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
