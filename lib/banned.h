/*
 * banned.h — functions we do not use (git's banned.h).  Included last by
 * every .c file of ours, so a use fails to compile.
 */
#ifndef MH_BANNED_H
#define MH_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_msghash

#undef strcpy
#define strcpy(x, y)		BANNED(strcpy)
#undef strcat
#define strcat(x, y)		BANNED(strcat)
#undef sprintf
#define sprintf(...)		BANNED(sprintf)
#undef vsprintf
#define vsprintf(...)		BANNED(vsprintf)
#undef strtok
#define strtok(x, y)		BANNED(strtok)
#undef gets
#define gets(x)			BANNED(gets)
#undef atoi
#define atoi(x)			BANNED(atoi)

#endif /* MH_BANNED_H */
