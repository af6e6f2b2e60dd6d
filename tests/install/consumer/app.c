// Uses the installed library with no -D flag of its own: the build switches
// must come from the installed ftrt_config.h (ft_init checks they match).
#include <stdio.h>

#include "ftrt.h"

int
main(void)
{
    if (ft_init() != 0) {
        printf("ft_init: %s\n", ft_err_message());
        return 1;
    }
    ft_object *list = ft_list_new();
    int ok = list != NULL && ft_list_append(list, ft_none()) == 0 && ft_list_len(list) == 1;
    ft_xdecref(list);
    printf("%s: %s\n", ft_build_info(), ok ? "ok" : "FAILED");
    ft_fini();
    return ok ? 0 : 1;
}
