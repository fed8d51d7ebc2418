module lbd

go 1.26

require (
	github.com/gophercloud/gophercloud/v2 v2.15.0
	gopkg.in/yaml.v3 v3.0.1
)

require gopkg.in/yaml.v2 v2.4.0 // indirect
