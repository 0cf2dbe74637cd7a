/*
 * A stand-in for Windows' bcryptprimitives.dll, for running the Windows build
 * under Wine 8, which lacks that DLL. Rust's standard library (1.78 and later)
 * imports ProcessPrng from it for random numbers; this forwards the call to
 * BCryptGenRandom with the system-preferred generator.
 *
 * Built by tests/util/wine.rs with mingw and placed beside the .exe files.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
