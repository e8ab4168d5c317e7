# bash completion for shadowctl(1) and shadowptd(8)            -*- shell-script -*-

_shadowctl_pids()
{
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$(command ps -eo pid= 2>/dev/null | tr -d ' ')" -- "$cur"))
}

_shadowctl()
{
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}

	case $prev in
	-s | --socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-b | --backend)
		COMPREPLY=($(compgen -W "auto kernel procfs" -- "$cur"))
		return
		;;
	-o | --output)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-S | --speed)
		COMPREPLY=($(compgen -W "0.25 0.5 1 2 4 8 max" -- "$cur"))
		return
		;;
	-r | --range | -i | --interval | -c | --count | -d | --duration)
		return
		;;
	esac

	# Find the command word (skipping global options and their values).
	local i cmd= nargs=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s | --socket) ((i++)) ;;
		-r | --range | -b | --backend | -i | --interval | -c | --count) ((i++)) ;;
		-o | --output | -d | --duration | -S | --speed) ((i++)) ;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${words[i]}
			else
				((nargs++))
			fi
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--socket --json --help --version" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "watch snapshot peek status record replay plot help" -- "$cur"))
		fi
		return
	fi

	case $cmd in
	watch)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--range --backend --interval --count --no-tui --json --help" -- "$cur"))
		elif ((nargs == 0)); then
			_shadowctl_pids
		fi
		;;
	snapshot)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--range --json --help" -- "$cur"))
		elif ((nargs == 0)); then
			_shadowctl_pids
		fi
		;;
	peek)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json --help" -- "$cur"))
		elif ((nargs == 0)); then
			_shadowctl_pids
		fi
		;;
	status)
		COMPREPLY=($(compgen -W "--json --help" -- "$cur"))
		;;
	record)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--output --duration --range --backend --interval --help" -- "$cur"))
		elif ((nargs == 0)); then
			_shadowctl_pids
		fi
		;;
	plot)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--output --all-regions --json --help" -- "$cur"))
		elif ((nargs == 0)); then
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	replay)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--speed --no-tui --json --help" -- "$cur"))
		elif ((nargs == 0)); then
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	help)
		((nargs == 0)) && COMPREPLY=($(compgen -W "watch snapshot peek status record replay plot" -- "$cur"))
		;;
	esac
}
complete -F _shadowctl shadowctl

_shadowptd()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}

	case $prev in
	-s | --socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-b | --backend)
		COMPREPLY=($(compgen -W "auto kernel procfs" -- "$cur"))
		return
		;;
	-u | --user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return
		;;
	--min-interval-ms | --max-interval-ms)
		return
		;;
	esac
	COMPREPLY=($(compgen -W "--socket --backend --min-interval-ms --max-interval-ms --user
		--keep-root --foreground --verbose --help --version" -- "$cur"))
}
complete -F _shadowptd shadowptd
