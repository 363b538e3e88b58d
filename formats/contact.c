#include <string.h>

#include "contact.h"

const struct nv_field_def nv_fields[NV_F_COUNT] = {
    [NV_F_FIRST_NAME] = { "first_name", NV_K_NAME, 0 },
    [NV_F_LAST_NAME] = { "last_name", NV_K_NAME, 0 },
    [NV_F_BIRTH_NAME] = { "birth_name", NV_K_NAME, 0 },
    [NV_F_TITLE] = { "title", NV_K_TEXT, 0 },
    [NV_F_EMAIL] = { "email", NV_K_EMAIL, 1 },
    [NV_F_PHONE] = { "phone", NV_K_PHONE, 1 },
    [NV_F_ADDRESS] = { "address", NV_K_TEXT, 0 },
    [NV_F_POSTCODE] = { "postcode", NV_K_POSTCODE, 0 },
    [NV_F_CITY] = { "city", NV_K_NAME, 0 },
    [NV_F_COUNTRY] = { "country", NV_K_COUNTRY, 0 },
    [NV_F_BIRTH_DATE] = { "birth_date", NV_K_DATE, 0 },
    [NV_F_CONSENT] = { "consent", NV_K_BOOL, 0 },
    [NV_F_PERSON_ID] = { "person_id", NV_K_ID, 0 },
    [NV_F_CREATED_AT] = { "created_at", NV_K_TIMESTAMP, 0 },
    [NV_F_UPDATED_AT] = { "updated_at", NV_K_TIMESTAMP, 0 },
};

int
nv_field_lookup(const char *name)
{
    for (int i = 0; i < NV_F_COUNT; i++)
        if (strcmp(nv_fields[i].name, name) == 0)
            return i;
    return -1;
}
