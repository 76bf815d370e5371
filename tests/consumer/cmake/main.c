/* A downstream program: uses the installed headers and library only.
 * Built by tests/consumer/cmake (find_package) and tests/consumer/pkgconfig
 * (pkg-config); run by .ci/check-install.sh. Exit status 0 when the library it
 * runs against matches the headers it was compiled with. */
#include <sparsetrain.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *name = argc > 0 && argv[0] != NULL ? argv[0] : "consumer";
    const char *version = spt_version_string();
    const char *ok_text = spt_status_string(SPT_OK);
    const char *nomem_text = spt_status_string(SPT_ERR_NOMEM);
    int failures = 0;

#if defined(SPT_CONSUMER_EXPECT_STATIC) && !defined(SPT_STATIC)
    fprintf(stderr, "%s: SPT_STATIC is not defined: the static target did not pass it on\n", name);
    failures++;
#elif defined(SPT_CONSUMER_EXPECT_SHARED) && defined(SPT_STATIC)
    fprintf(stderr, "%s: SPT_STATIC is defined for a shared-library consumer\n", name);
    failures++;
#endif
    if (spt_version_number() != SPT_VERSION_NUMBER) {
        fprintf(stderr, "%s: spt_version_number() = %d, header SPT_VERSION_NUMBER = %d\n", name,
                spt_version_number(), SPT_VERSION_NUMBER);
        failures++;
    }
    if (version == NULL || strcmp(version, SPT_VERSION_STRING) != 0) {
        fprintf(stderr, "%s: spt_version_string() = \"%s\", header SPT_VERSION_STRING = \"%s\"\n", name,
                version ? version : "(null)", SPT_VERSION_STRING);
        failures++;
    }
    if (ok_text == NULL || nomem_text == NULL || ok_text[0] == '\0' || strcmp(ok_text, nomem_text) == 0) {
        fprintf(stderr, "%s: spt_status_string() gives empty or equal texts\n", name);
        failures++;
    }
    if (failures == 0) {
        printf("%s: sparsetrain %s (%d), SPT_OK \"%s\", SPT_ERR_NOMEM \"%s\", simd %s\n", name, version,
               spt_version_number(), ok_text, nomem_text, spt_simd_name());
    }
    return failures == 0 ? 0 : 1;
}
